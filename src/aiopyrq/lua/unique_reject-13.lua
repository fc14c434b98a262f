--[[
  UniqueQueue's reject: as queue_reject, but an item that is already waiting in
  the queue again (or delayed) is not queued twice.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue (delayed ones included)
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    KEYS[5] deliveries hash (item -> failed deliveries)
    KEYS[6] dead-letter list
    KEYS[7] delayed items (sorted set: item -> due unix time in ms)
    KEYS[8] dead-letter records hash (item -> JSON record of its death)
    KEYS[9] prioritised items waiting (sorted set, includes/priority)
    KEYS[10] levels hash (item -> level, includes/priority): an item goes back to
            its level; one that dies forgets it
    KEYS[11] history hash (includes/history): the items held count as failed, those
            that died as dead
    KEYS[12] in-flight counts (includes/limits)
    KEYS[13] in-flight tokens of freed room (includes/limits)
    ARGV[1] max_deliveries; 0: no dead letters
    ARGV[2] the items, packed: a msgpack array of strings
    ARGV[3] delay in milliseconds; 0: back to the front of the queue now
    ARGV[4] 1: count the failed delivery even without max_deliveries
    ARGV[5] the reason kept with the items that die ('': none)
    ARGV[6] this consumer's id, kept with the items that die
    ARGV[7] max_in_flight (absent: no cap)

  Output:
    how many items went to the dead-letter list
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/reject"
--- @include "includes/history"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'LREM', 'LRANGE', 'DEL', 'LPUSH', 'RPUSH', 'EXISTS', 'HDEL', 'HINCRBY',
  'SADD', 'ZRANGE', 'ZADD', 'HSET', 'HGET', 'HLEN', 'PEXPIRE', 'LLEN', 'HMGET', 'ZCARD',
  'ZRANGEBYSCORE', 'ZREVRANGEBYSCORE' })
check_types({ KEYS[1], 'list', KEYS[2], 'set', KEYS[3], 'list', KEYS[4], 'hash', KEYS[5], 'hash',
    KEYS[6], 'list', KEYS[7], 'zset', KEYS[8], 'hash', KEYS[9], 'zset', KEYS[10], 'hash' })
local items = cmsgpack.unpack(ARGV[2])
local found = levels_of(KEYS[10], items)
local held = held_before(KEYS[12], KEYS[13], KEYS[3], ARGV[7])
local history = history_read(KEYS[11])
local dead, failed = reject(KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[1]),
  items, function(items)
    local back = {}
    for _, item in ipairs(items) do
      if rcall('SADD', KEYS[2], item) == 1 then
        back[#back + 1] = item
      end
    end
    return back
  end, reject_later(KEYS[7], ARGV[3], ARGV[4], nil),
  { records = KEYS[8], reason = ARGV[5], consumer = ARGV[6], levels = found and KEYS[10] },
  { set = KEYS[9], found = found })
history_write(history, { failed = failed, dead = dead }, rcall('LLEN', KEYS[1]) +
  rcall('ZCARD', KEYS[9]))
return held_after(held, dead)
