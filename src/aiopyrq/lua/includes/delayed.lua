--[[
  Delays items: adds them to the sorted set of delayed items (see includes/due),
  scored by the unix time in milliseconds at which they are due.
]]
--- @include "includes/member"

-- The members of items delayed by one call: with a prefix made of the call's key
-- (unique to the call, the same when the call is sent again) and the item's place in
-- the call, or (call nil) the items themselves.
local function delayed_members(items, call)
  if call == nil then
    return items
  end
  local base = string.sub(redis.sha1hex(call), 1, DELAYED_PREFIX - 8)
  local members = {}
  for i, item in ipairs(items) do
    members[i] = base .. string.format('%08x', i) .. item
  end
  return members
end

-- Adds members due at `due`, in chunks below Lua's limit on a call's arguments.
local function delay_all(delayed, due, members)
  for i = 1, #members, 500 do
    local args = {}
    for j = i, math.min(i + 499, #members) do
      args[#args + 1] = due
      args[#args + 1] = members[j]
    end
    rcall('ZADD', delayed, unpack(args))
  end
end
