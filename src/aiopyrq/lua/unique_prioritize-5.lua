--[[
  Adds items with a priority to a UniqueQueue: as queue_prioritize, but an item
  already waiting (at any level, or delayed) is not added again, nor one listed
  twice in the batch; the items added join the set of waiting items.

  Input:
    KEYS[1] set of the items waiting in the queue (delayed ones included)
    KEYS[2] prioritised items waiting (sorted set: item -> score, includes/priority)
    KEYS[3] levels hash (item -> level, includes/priority)
    KEYS[4] delayed items (sorted set: item -> due unix time in ms); its name is
            also the channel where the add is published
    KEYS[5] history hash (includes/history)
    ARGV[1] the level: -9 to 9, not 0
    ARGV[2] delay in milliseconds; 0: none
    ARGV[3] the items, packed: a msgpack array of strings

  Output:
    how many items were added
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/not_waiting"
--- @include "includes/types"
--- @include "includes/prioritize"
--- @include "includes/history"

ready({ 'TYPE', 'TIME', 'HLEN', 'SMISMEMBER', 'ZRANGE', 'ZREVRANGEBYSCORE', 'ZADD', 'SADD',
  'HSET', 'PEXPIRE', 'HINCRBY', 'EXISTS', 'HMGET', 'ZCARD', 'ZRANGEBYSCORE' })
check_types({ KEYS[1], 'set', KEYS[2], 'zset', KEYS[3], 'hash', KEYS[4], 'zset' })
local history = history_read(KEYS[5])
local items = cmsgpack.unpack(ARGV[3])
local added = not_waiting(KEYS[1], items)
prioritize({ set = KEYS[2], levels = KEYS[3], delayed = KEYS[4] }, tonumber(ARGV[1]),
  tonumber(ARGV[2]), added, added)
push_all('SADD', KEYS[1], added)
history_write(history, { added = #added })
return #added
