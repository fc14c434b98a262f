--[[
  Gives every item the same score, in chunks that stay below Lua's limit on the
  number of arguments of one call. Returns how many items were new to the set.
]]
local function zadd_all(key, score, items)
  local added = 0
  for i = 1, #items, 500 do
    local args = {}
    for j = i, math.min(i + 499, #items) do
      args[#args + 1] = score
      args[#args + 1] = items[j]
    end
    added = added + rcall('ZADD', key, unpack(args))
  end
  return added
end
