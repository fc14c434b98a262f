--[[
  Puts the items of one consumer's processing list back at the front of the
  queue (its oldest item is taken next) and drops its lease, if its last get is
  older than ARGV[1] seconds.

  Input:
    KEYS[1] queue list
    KEYS[2] the processing list to recover
    KEYS[3] timeouts hash
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any

  Output:
    how many items went back to the queue
]]
local rcall = redis.call
--- @include "includes/lease"
--- @include "includes/push"

if not lease_expired(KEYS[3], KEYS[2], tonumber(ARGV[1])) then
  return 0
end
local items = rcall('LRANGE', KEYS[2], 0, -1)
push_all('RPUSH', KEYS[1], items)
rcall('DEL', KEYS[2])
rcall('HDEL', KEYS[3], KEYS[2])
return #items
