--[[
  A Pool item handed out and not yet acknowledged has a score with a fraction
  (.1): the time it comes back if nobody acknowledges it. This is the one place
  that decides an item in flight (aiopyrq._snapshot.in_flight restates it for the
  read model; tests/integration/test_rules.py holds the two together).
]]

-- The distinct items that are in flight, in their order.
local function in_flight(pool, items)
  local found, seen = {}, {}
  for _, item in ipairs(items) do
    if not seen[item] then
      seen[item] = true
      local score = rcall('ZSCORE', pool, item)
      score = tonumber(score)
      if score and score - math.floor(score) > 0.01 then
        found[#found + 1] = item
      end
    end
  end
  return found
end
