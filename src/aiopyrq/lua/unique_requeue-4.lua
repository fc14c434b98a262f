--[[
  UniqueQueue's recovery: as queue_requeue, but an item that is waiting in the
  queue already moves to the front instead of being queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] the processing list to recover
    KEYS[4] timeouts hash
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any

  Output:
    how many items are at the front of the queue
]]
local rcall = redis.call
--- @include "includes/lease"
--- @include "includes/list_remove"

if not lease_expired(KEYS[4], KEYS[3], tonumber(ARGV[1])) then
  return 0
end
local items = rcall('LRANGE', KEYS[3], 0, -1)
-- An item held twice goes back once, at the place of its oldest occurrence.
local last = {}
for i, item in ipairs(items) do
  last[item] = i
end
local front, waiting = {}, {}
for i, item in ipairs(items) do
  if last[item] == i then
    front[#front + 1] = item
    if rcall('SADD', KEYS[2], item) == 0 then
      waiting[#waiting + 1] = item
    end
  end
end
list_remove(KEYS[1], waiting, -1)
push_all('RPUSH', KEYS[1], front)
rcall('DEL', KEYS[3])
rcall('HDEL', KEYS[4], KEYS[3])
return #front
