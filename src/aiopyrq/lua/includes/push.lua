--[[
  Pushes values with LPUSH or RPUSH, in chunks that stay below Lua's limit on
  the number of arguments of one call.
]]
local function push_all(command, key, values)
  for i = 1, #values, 1000 do
    rcall(command, key, unpack(values, i, math.min(i + 999, #values)))
  end
end
