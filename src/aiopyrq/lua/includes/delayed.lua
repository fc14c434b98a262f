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

-- Adds members due at `due`, in chunks below Lua's limit on a call's arguments. When
-- they are due before every item delayed so far, publishes `due` on the channel named
-- as the delayed items' key: the gets that wait in Redis (any client's, see
-- aiopyrq._tasks.Interruptible.woken) listen there, and take again to learn the new
-- due time instead of waiting to their end. Publishing is best effort (pcall): a user
-- that may not publish there only loses that early wake.
local function delay_all(delayed, due, members)
  local first = rcall('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]
  for i = 1, #members, 500 do
    local args = {}
    for j = i, math.min(i + 499, #members) do
      args[#args + 1] = due
      args[#args + 1] = members[j]
    end
    rcall('ZADD', delayed, unpack(args))
  end
  if #members > 0 and (first == nil or tonumber(first) > due) then
    redis.pcall('PUBLISH', delayed, due)
  end
end
