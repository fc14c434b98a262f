--[[
  Pushes values with LPUSH or RPUSH, in chunks that stay below Lua's limit on
  the number of arguments of one call.
]]

-- Returns the last call's reply (LPUSH, RPUSH: the list's length), nil if no value.
local function push_all(command, key, values)
  local reply
  for i = 1, #values, 1000 do
    reply = rcall(command, key, unpack(values, i, math.min(i + 999, #values)))
  end
  return reply
end
