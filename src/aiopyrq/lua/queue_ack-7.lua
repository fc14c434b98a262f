--[[
  Acknowledges a batch: removes each item once from the processing list, oldest
  occurrence first, forgets their delivery counts and levels, and drops the lease when the
  list is empty.

  Input:
    KEYS[1] this consumer's processing list
    KEYS[2] timeouts hash
    KEYS[3] deliveries hash (item -> failed deliveries)
    KEYS[4] levels hash (item -> level, includes/priority): forgotten too
    KEYS[5] history hash (includes/history): the items removed count as acked
    KEYS[6] in-flight counts (includes/limits)
    KEYS[7] in-flight tokens of freed room (includes/limits)
    ARGV[1] the items, packed: a msgpack array of strings
    ARGV[2] max_in_flight (absent: no cap)

  Output:
    how many items were removed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/list_remove"
--- @include "includes/release"
--- @include "includes/forget"
--- @include "includes/history"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'HLEN', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'HDEL',
  'EXISTS', 'HSET', 'PEXPIRE', 'HINCRBY' })
check_types({ KEYS[2], 'hash' })
local history = history_read(KEYS[5])
local held = held_before(KEYS[6], KEYS[7], KEYS[1], ARGV[2])
local kept = rcall('HLEN', KEYS[3]) > 0
local leveled = rcall('HLEN', KEYS[4]) > 0
local taken, removed = list_remove(KEYS[1], cmsgpack.unpack(ARGV[1]), -1)
forget_deliveries(KEYS[3], taken, kept)
if leveled then
  push_all('HDEL', KEYS[4], taken)
end
release_if_empty(KEYS[2], KEYS[1])
history_write(history, { acked = removed })
return held_after(held, removed)
