--[[
  Drops one consumer's processing list: deletes it and its lease, and forgets the
  levels of its items, if its last get is older than ARGV[1] seconds.

  Input:
    KEYS[1] the processing list to drop
    KEYS[2] timeouts hash
    KEYS[3] levels hash (item -> level, includes/priority)
    KEYS[4] in-flight counts (includes/limits)
    KEYS[5] in-flight tokens of freed room (includes/limits)
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
--- @include "includes/push"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'HGET', 'LLEN', 'DEL', 'HDEL', 'HLEN', 'LRANGE' })
check_types({ KEYS[2], 'hash' })
local leveled = rcall('HLEN', KEYS[3]) > 0
local held = held_before(KEYS[4], KEYS[5], KEYS[1], ARGV[2])
if not lease_expired(KEYS[2], KEYS[1], tonumber(ARGV[1]), now_seconds()) then
  return 0
end
local dropped = rcall('LLEN', KEYS[1])
if leveled then
  push_all('HDEL', KEYS[3], rcall('LRANGE', KEYS[1], 0, -1))
end
rcall('DEL', KEYS[1])
rcall('HDEL', KEYS[2], KEYS[1])
return held_after(held, dropped)
