--[[
  Recovers one consumer's processing list: puts its items back at the front of
  the queue (its oldest item is taken next) and drops its lease, if its last get
  or heartbeat is older than ARGV[1] seconds. With dead letters on, an item
  recovered or rejected ARGV[2] times goes to the dead-letter list instead.

  Input:
    KEYS[1] queue list
    KEYS[2] the processing list to recover
    KEYS[3] timeouts hash
    KEYS[4] deliveries hash (item -> failed deliveries)
    KEYS[5] dead-letter list
    KEYS[6] dead-letter records hash (item -> JSON record of its death)
    KEYS[7] prioritised items waiting (sorted set, includes/priority)
    KEYS[8] levels hash (item -> level, includes/priority): an item goes back to
            the front of its level; one that dies forgets it
    KEYS[9] history hash (includes/history): with a lease that expired
            (ARGV[1] >= 0) the items held count as failed; those put back as
            recovered, those that died as dead
    KEYS[10] in-flight counts (includes/limits)
    KEYS[11] in-flight tokens of freed room (includes/limits)
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any
    ARGV[2] max_deliveries; 0: no dead letters
    ARGV[3] the reason kept with the items that die ('': none)
    ARGV[4] the id of the consumer whose list it is, kept with the items that die
    ARGV[5] max_in_flight; 0: no cap (the list's count is dropped all the same)

  Output:
    how many items the list held
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/recover"
--- @include "includes/put_front"
--- @include "includes/history"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'HGET', 'HLEN', 'LRANGE', 'HINCRBY', 'RPUSH', 'HDEL', 'DEL', 'HSET',
  'PEXPIRE', 'LLEN', 'EXISTS', 'HMGET', 'ZADD', 'ZCARD', 'ZRANGE', 'ZRANGEBYSCORE',
  'ZREVRANGEBYSCORE' })
check_types({ KEYS[1], 'list', KEYS[2], 'list', KEYS[3], 'hash', KEYS[4], 'hash', KEYS[5], 'list',
  KEYS[6], 'hash', KEYS[7], 'zset', KEYS[8], 'hash' })
local kept = rcall('EXISTS', KEYS[8]) == 1
local flight = held_before(KEYS[10], KEYS[11], KEYS[2], ARGV[5])
local history = history_read(KEYS[9])
local held, back = recover(KEYS[2], KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[1]),
  tonumber(ARGV[2]), function(items) return items end,
  function(items)
    items = reversed(items)
    put_front(KEYS[1], { set = KEYS[7], found = levels_of(KEYS[8], items), call = call_key }, items)
  end,
  { records = KEYS[6], reason = ARGV[3], consumer = ARGV[4], levels = kept and KEYS[8] })
local failed = tonumber(ARGV[1]) >= 0 and held or 0
history_write(history, { failed = failed, recovered = back, dead = held - back },
  rcall('LLEN', KEYS[1]) + rcall('ZCARD', KEYS[7]))
return held_after(flight, held)
