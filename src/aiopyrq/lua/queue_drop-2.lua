--[[
  Drops one consumer's processing list: deletes it and its lease, if its last get is older
  than ARGV[1] seconds.

  Input:
    KEYS[1] the processing list to drop
    KEYS[2] timeouts hash
    ARGV[1] lease age in seconds beyond which the list is dropped; -1: any

  Output:
    how many items were dropped
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/now"
--- @include "includes/lease"

ready({ 'TYPE', 'TIME', 'HGET', 'LLEN', 'DEL', 'HDEL' })
check_types({ KEYS[2], 'hash' })
if not lease_expired(KEYS[2], KEYS[1], tonumber(ARGV[1]), now_seconds()) then
  return 0
end
local dropped = rcall('LLEN', KEYS[1])
rcall('DEL', KEYS[1])
rcall('HDEL', KEYS[2], KEYS[1])
return dropped
