--[[
  UniqueQueue: the items of a batch to add, those not waiting already.
]]

-- The items not in the set of waiting items, each once, in their order (a read).
local function not_waiting(waiting_set, items)
  local added, seen = {}, {}
  for i = 1, #items, 1000 do
    local chunk = { unpack(items, i, math.min(i + 999, #items)) }
    local waiting = rcall('SMISMEMBER', waiting_set, unpack(chunk))
    for j, item in ipairs(chunk) do
      if waiting[j] == 0 and not seen[item] then
        seen[item] = true
        added[#added + 1] = item
      end
    end
  end
  return added
end
