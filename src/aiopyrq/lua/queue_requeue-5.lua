--[[
  Puts the items of one consumer's processing list back at the front of the
  queue (its oldest item is taken next) and drops its lease, if its last get or
  heartbeat is older than ARGV[1] seconds. With dead letters on, an item
  recovered or rejected ARGV[2] times goes to the dead-letter list instead.

  Input:
    KEYS[1] queue list
    KEYS[2] the processing list to recover
    KEYS[3] timeouts hash
    KEYS[4] deliveries hash (item -> failed deliveries)
    KEYS[5] dead-letter list
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any
    ARGV[2] max_deliveries; 0: no dead letters

  Output:
    how many items the list held
]]
local rcall = redis.call
--- @include "includes/lease"
--- @include "includes/deliveries"

if not lease_expired(KEYS[3], KEYS[2], tonumber(ARGV[1])) then
  return 0
end
local items = rcall('LRANGE', KEYS[2], 0, -1)
push_all('RPUSH', KEYS[1], count_failures(KEYS[4], KEYS[5], items, tonumber(ARGV[2])))
rcall('DEL', KEYS[2])
rcall('HDEL', KEYS[3], KEYS[2])
return #items
