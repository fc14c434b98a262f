--[[
  Adds items to a Pool, due now (an item already in the pool becomes due now),
  and wakes one consumer waiting for items.

  Input:
    KEYS[1] pool sorted set (item -> unix time it is due)
    KEYS[2] wake-up list: one token that a waiting get blocks on (BLPOP)
    KEYS[3] history hash (includes/history): the items new to the pool count as
            added
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were new to the pool
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/now"
--- @include "includes/zadd"
--- @include "includes/history"

ready({ 'TYPE', 'TIME', 'HLEN', 'ZADD', 'LPUSH', 'LTRIM', 'PEXPIRE', 'HSET',
  'HINCRBY' })
check_types({ KEYS[2], 'list' })
local now = now_seconds()
local history = history_at(KEYS[3], math.floor(now / 60))
local added = zadd_all(KEYS[1], now, cmsgpack.unpack(ARGV[1]))
rcall('LPUSH', KEYS[2], 1)
rcall('LTRIM', KEYS[2], 0, 0)
rcall('PEXPIRE', KEYS[2], 60000)
history_write(history, { added = added })
return added
