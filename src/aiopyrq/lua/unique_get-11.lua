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
    KEYS[6] prioritised items waiting (sorted set, includes/priority)
    KEYS[7] levels hash (item -> level, includes/priority)
    KEYS[8] history hash (includes/history): the items taken count as delivered
    KEYS[9] rate limit window (includes/limits)
    KEYS[10] in-flight counts (includes/limits)
    KEYS[11] in-flight tokens of freed room (includes/limits)
    ARGV[1] how many items to take, >= 1
    ARGV[2] 1: renew the lease even if the consumer holds nothing; 0: only if
            it holds items
    ARGV[3] limits (absent: none; see includes/limits): max_in_flight, 0: none
    ARGV[4] rate limit: items per period, 0: none
    ARGV[5] rate limit: the period in microseconds

  Output:
    { the items taken, oldest first; when none: milliseconds until the next
      delayed item is due, -1 if none is delayed (else 0); with limits: as queue_get }
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/types"
--- @include "includes/take"
--- @include "includes/limits"

ready({ 'TYPE', 'TIME', 'LLEN', 'ZRANGEBYSCORE', 'HGET', 'HLEN', 'HSET', 'ZREMRANGEBYRANK', 'LPUSH',
  'RPOP', 'SREM', 'ZRANGE', 'HDEL', 'PEXPIRE', 'HINCRBY' })
check_types({ KEYS[2], 'set' })
local count, limited = limits_before(KEYS[9], KEYS[10], KEYS[11], tonumber(ARGV[1]), ARGV[3],
  ARGV[4], ARGV[5])
return limits_after(take(KEYS[1], KEYS[3], KEYS[4], KEYS[5], count, ARGV[2] == '1',
  function(items) push_all('SREM', KEYS[2], items) end, false, KEYS[8],
  { set = KEYS[6], hash = KEYS[7] }), limited, KEYS[9], KEYS[10], KEYS[11], KEYS[3])
