--[[
  UniqueQueue's recovery: as queue_recover, but an item held twice goes back
  once, and an item that is waiting in the queue already moves to the front
  instead of being queued twice (a delayed one is due at once).

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue
    KEYS[3] the processing list to recover
    KEYS[4] timeouts hash
    KEYS[5] deliveries hash (item -> failed deliveries)
    KEYS[6] dead-letter list
    KEYS[7] delayed items (sorted set: item -> due unix time in ms)
    KEYS[8] dead-letter records hash (item -> JSON record of its death)
    KEYS[9] prioritised items waiting (sorted set, includes/priority)
    KEYS[10] levels hash (item -> level, includes/priority): an item goes back to
            the front of its level; one that dies forgets it
    KEYS[11] history hash (includes/history): with a lease that expired
            (ARGV[1] >= 0) the items held count as failed; those put back as
            recovered, those that died as dead
    KEYS[12] in-flight counts (includes/limits)
    KEYS[13] in-flight tokens of freed room (includes/limits)
    ARGV[1] lease age in seconds beyond which the list is recovered; -1: any
    ARGV[2] max_deliveries; 0: no dead letters
    ARGV[3] the reason kept with the items that die ('': none)
    ARGV[4] the id of the consumer whose list it is, kept with the items that die
    ARGV[5] max_in_flight; 0: no cap (the list's count is dropped all the same)

  Output:
    how many distinct items the list held
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/recover"
--- @include "includes/list_remove"
--- @include "includes/put_front"
--- @include "includes/history"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'HGET', 'HLEN', 'LRANGE', 'HINCRBY', 'RPUSH', 'HDEL', 'DEL', 'SADD', 'ZREM',
  'LREM', 'LPUSH', 'HSET', 'PEXPIRE', 'LLEN', 'EXISTS', 'HMGET', 'ZADD', 'ZCARD', 'ZRANGE',
  'ZRANGEBYSCORE', 'ZREVRANGEBYSCORE' })
check_types({ KEYS[1], 'list', KEYS[2], 'set', KEYS[3], 'list', KEYS[4], 'hash', KEYS[5], 'hash',
    KEYS[6], 'list', KEYS[7], 'zset', KEYS[8], 'hash', KEYS[9], 'zset', KEYS[10], 'hash' })
local kept = rcall('EXISTS', KEYS[10]) == 1
local flight = held_before(KEYS[12], KEYS[13], KEYS[3], ARGV[5])
local history = history_read(KEYS[11])

-- An item held twice goes back once, at the place of its oldest occurrence.
local function distinct(items)
  local last, held = {}, {}
  for i, item in ipairs(items) do
    last[item] = i
  end
  for i, item in ipairs(items) do
    if last[item] == i then
      held[#held + 1] = item
    end
  end
  return held
end

local function put_back(items)
  local waiting = {}
  for _, item in ipairs(items) do
    if rcall('SADD', KEYS[2], item) == 0 and rcall('ZREM', KEYS[7], item) == 0
        and rcall('ZREM', KEYS[9], item) == 0 then
      waiting[#waiting + 1] = item
    end
  end
  list_remove(KEYS[1], waiting, -1)
  items = reversed(items)
  put_front(KEYS[1], { set = KEYS[9], found = levels_of(KEYS[10], items) }, items)
end

local held, back = recover(KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[1]),
  tonumber(ARGV[2]), distinct, put_back,
  { records = KEYS[8], reason = ARGV[3], consumer = ARGV[4], levels = kept and KEYS[10] })
local failed = tonumber(ARGV[1]) >= 0 and held or 0
history_write(history, { failed = failed, recovered = back, dead = held - back },
  rcall('LLEN', KEYS[1]) + rcall('ZCARD', KEYS[9]))
return held_after(flight, held)
