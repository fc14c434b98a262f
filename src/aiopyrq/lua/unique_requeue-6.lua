--[[
  UniqueQueue's recovery: as queue_requeue, but an item that is waiting in the
  queue already moves to the front instead of being queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] the processing list to recover
    KEYS[4] timeouts hash
    KEYS[5] deliveries hash (item -> failed deliveries)
    KEYS[6] dead-letter list
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any
    ARGV[2] max_deliveries; 0: no dead letters

  Output:
    how many distinct items the list held
]]
local rcall = redis.call
--- @include "includes/lease"
--- @include "includes/list_remove"
--- @include "includes/deliveries"

if not lease_expired(KEYS[4], KEYS[3], tonumber(ARGV[1])) then
  return 0
end
local items = rcall('LRANGE', KEYS[3], 0, -1)
-- An item held twice goes back once, at the place of its oldest occurrence.
local last, held = {}, {}
for i, item in ipairs(items) do
  last[item] = i
end
for i, item in ipairs(items) do
  if last[item] == i then
    held[#held + 1] = item
  end
end
local front, waiting = count_failures(KEYS[5], KEYS[6], held, tonumber(ARGV[2])), {}
for _, item in ipairs(front) do
  if rcall('SADD', KEYS[2], item) == 0 then
    waiting[#waiting + 1] = item
  end
end
list_remove(KEYS[1], waiting, -1)
push_all('RPUSH', KEYS[1], front)
rcall('DEL', KEYS[3])
rcall('HDEL', KEYS[4], KEYS[3])
return #held
