--[[
  Drops one consumer's processing list: deletes it and its lease, if its last get is older
  than ARGV[1] seconds.

  Input:
    KEYS[1] the processing list to drop
    KEYS[2] timeouts hash
    KEYS[3] in-flight counts (includes/limits)
    KEYS[4] in-flight tokens of freed room (includes/limits)
    ARGV[1] lease age in seconds beyond which the list is dropped; -1: any
    ARGV[2] max_in_flight; 0: no cap (the list's count is dropped all the same)

  Output:
    how many items were dropped
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/now"
--- @include "includes/lease"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'HGET', 'LLEN', 'DEL', 'HDEL' })
check_types({ KEYS[2], 'hash' })
local held = held_before(KEYS[3], KEYS[4], KEYS[1], ARGV[2])
if not lease_expired(KEYS[2], KEYS[1], tonumber(ARGV[1]), now_seconds()) then
  return 0
end
local dropped = rcall('LLEN', KEYS[1])
rcall('DEL', KEYS[1])
rcall('HDEL', KEYS[2], KEYS[1])
return held_after(held, dropped)
