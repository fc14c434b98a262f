--[[
  Finds which of some items are in flight in a Pool (includes/flight).
]]
--- @include "includes/flight"

-- The distinct items that are in flight, in their order.
local function in_flight(pool, items)
  local found, seen = {}, {}
  for _, item in ipairs(items) do
    if not seen[item] then
      seen[item] = true
      local score = tonumber(rcall('ZSCORE', pool, item))
      if score and is_in_flight(score) then
        found[#found + 1] = item
      end
    end
  end
  return found
end
