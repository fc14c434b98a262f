--[[
  UniqueQueue's get: as queue_get, and the items taken stop counting as waiting.
  A delayed item is in the set of waiting items already: it moves to the list
  alone.

  Input:
    KEYS[1] queue list
    KEYS[2] set of the items waiting in the queue (delayed ones included)
    KEYS[3] this consumer's processing list
    KEYS[4] timeouts hash
    KEYS[5] delayed items (sorted set: item -> due unix time in ms)
    KEYS[6] history hash (includes/history): the items taken count as delivered
    ARGV[1] how many items to take, >= 1
    ARGV[2] 1: renew the lease even if the consumer holds nothing; 0: only if
            it holds items

  Output:
    { the items taken, oldest first; when none: milliseconds until the next
      delayed item is due, -1 if none is delayed (else 0) }
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/take"

ready({ 'TYPE', 'TIME', 'LLEN', 'ZRANGEBYSCORE', 'HGET', 'HSET', 'ZREMRANGEBYRANK', 'LPUSH',
  'RPOP', 'SREM', 'ZRANGE', 'HDEL', 'PEXPIRE', 'HINCRBY' })
check_types({ KEYS[2], 'set' })
return take(KEYS[1], KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[1]), ARGV[2] == '1',
  function(items) push_all('SREM', KEYS[2], items) end, false, KEYS[6])
