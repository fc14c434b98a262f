--[[
  Adds items with a priority to a Queue, in their order: at the back of their
  level (includes/priority), or, with a delay, to the delayed items, due ARGV[2]
  ms from now by the server's clock, then at the back of their level. Each is a
  member of its own (a prefix from the call's key, as a delayed member's), so
  that the same item added twice waits twice.

  Input:
    KEYS[1] prioritised items waiting (sorted set, includes/priority)
    KEYS[2] levels hash (item -> level, includes/priority)
    KEYS[3] delayed items (sorted set: prefixed item -> due unix time in ms); its
            name is also the channel where the add is published
    KEYS[4] history hash (includes/history)
    ARGV[1] the level: -9 to 9, not 0
    ARGV[2] delay in milliseconds; 0: none
    ARGV[3] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/prioritize"
--- @include "includes/history"

ready({ 'TYPE', 'TIME', 'HLEN', 'ZRANGE', 'ZREVRANGEBYSCORE', 'ZADD', 'HSET',
  'PEXPIRE', 'HINCRBY', 'EXISTS', 'HMGET', 'ZCARD', 'ZRANGEBYSCORE' })
check_types({ KEYS[1], 'zset', KEYS[2], 'hash', KEYS[3], 'zset' })
local history = history_read(KEYS[4])
local items = cmsgpack.unpack(ARGV[3])
prioritize({ set = KEYS[1], levels = KEYS[2], delayed = KEYS[3] }, tonumber(ARGV[1]),
  tonumber(ARGV[2]), items, delayed_members(items, call_key))
history_write(history, { added = #items })
return #items
