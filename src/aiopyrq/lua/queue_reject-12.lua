--[[
  Rejects a batch: the items still held in the processing list go back to the
  front of the queue, in the batch's order (the first is taken next), or, with
  a delay, to the delayed items, due ARGV[3] ms from now (server clock); with
  dead letters on, an item rejected or recovered ARGV[1] times goes to the
  dead-letter list instead.

  Input:
    KEYS[1] queue list
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash
    KEYS[4] deliveries hash (item -> failed deliveries)
    KEYS[5] dead-letter list
    KEYS[6] delayed items (sorted set: prefixed item -> due unix time in ms)
    KEYS[7] dead-letter records hash (item -> JSON record of its death)
    KEYS[8] prioritised items waiting (sorted set, includes/priority)
    KEYS[9] levels hash (item -> level, includes/priority): an item goes back to
            its level; one that dies forgets it
    KEYS[10] history hash (includes/history): the items held count as failed, those
            that died as dead
    KEYS[11] in-flight counts (includes/limits)
    KEYS[12] in-flight tokens of freed room (includes/limits)
    ARGV[1] max_deliveries; 0: no dead letters
    ARGV[2] the items, packed: a msgpack array of strings
    ARGV[3] delay in milliseconds; 0: back to the front of the queue now
    ARGV[4] 1: count the failed delivery even without max_deliveries
    ARGV[5] the reason kept with the items that die ('': none)
    ARGV[6] this consumer's id, kept with the items that die
    ARGV[7] max_in_flight (absent: no cap)

  Output:
    how many items went to the dead-letter list

  The delayed and prioritised members' prefixes come from the call's key (call_key, lua/wrap/once.lua).
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/reject"
--- @include "includes/history"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'EXISTS', 'HDEL', 'HINCRBY',
  'ZRANGE', 'ZADD', 'HSET', 'HGET', 'HLEN', 'PEXPIRE', 'LLEN', 'HMGET', 'ZCARD', 'ZRANGEBYSCORE',
  'ZREVRANGEBYSCORE' })
check_types({ KEYS[1], 'list', KEYS[2], 'list', KEYS[3], 'hash', KEYS[4], 'hash', KEYS[5], 'list',
  KEYS[6], 'zset', KEYS[7], 'hash', KEYS[8], 'zset', KEYS[9], 'hash' })
local items = cmsgpack.unpack(ARGV[2])
local found = levels_of(KEYS[9], items)
local held = held_before(KEYS[11], KEYS[12], KEYS[2], ARGV[7])
local history = history_read(KEYS[10])
local dead, failed = reject(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[1]),
  items, function(back) return back end,
  reject_later(KEYS[6], ARGV[3], ARGV[4], call_key),
  { records = KEYS[7], reason = ARGV[5], consumer = ARGV[6], levels = found and KEYS[9] },
  { set = KEYS[8], found = found, call = call_key })
history_write(history, { failed = failed, dead = dead }, rcall('LLEN', KEYS[1]) +
  rcall('ZCARD', KEYS[8]))
return held_after(held, dead)
