--[[
  Adds items to the delayed items of a UniqueQueue, due ARGV[1] milliseconds
  from now by the server's clock: an item already waiting (delayed or not) is
  not added again, nor one listed twice in the batch. A delayed item counts as
  waiting: it is in the set of waiting items until it is taken.

  Input:
    KEYS[1] set of the items waiting in the queue (delayed ones included)
    KEYS[2] delayed items (sorted set: item -> due unix time in ms)
    KEYS[3] history hash (includes/history): the items delayed count as added now
    ARGV[1] delay in milliseconds, >= 1
    ARGV[2] the items, packed: a msgpack array of strings

  Output:
    how many items were delayed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/not_waiting"
--- @include "includes/types"
--- @include "includes/push"
--- @include "includes/now"
--- @include "includes/delayed"
--- @include "includes/history"

ready({ 'TYPE', 'TIME', 'HLEN', 'SMISMEMBER', 'ZRANGE', 'ZADD', 'SADD', 'HSET', 'PEXPIRE',
  'HINCRBY' })
check_types({ KEYS[2], 'zset' })
local now = now_ms()
local history = history_at(KEYS[3], math.floor(now / 60000))
local items = cmsgpack.unpack(ARGV[2])
local added = not_waiting(KEYS[1], items)
delay_all(KEYS[2], now + tonumber(ARGV[1]), added)
push_all('SADD', KEYS[1], added)
history_write(history, { added = #added })
return #added
