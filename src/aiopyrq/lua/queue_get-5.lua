--[[
  Moves the delayed items that are due to the end of the queue, then up to
  ARGV[1] items, oldest first, from the queue into this consumer's processing
  list, and renews the consumer's lease.

  Input:
    KEYS[1] queue list (items pushed on the left, taken from the right)
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash (processing list -> unix time of the last get)
    KEYS[4] delayed items (sorted set: prefixed item -> due unix time in ms)
    KEYS[5] history hash (includes/history): the items taken count as delivered
    ARGV[1] how many items to take, >= 1
    ARGV[2] 1: renew the lease even if the consumer holds nothing (before it
            blocks in BLMOVE, so that whatever BLMOVE moves has a lease);
            0: only if it holds items

  Output:
    { the items taken, oldest first; when none: milliseconds until the next
      delayed item is due, -1 if none is delayed (else 0) }
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/take"

ready({ 'TIME', 'LLEN', 'ZRANGEBYSCORE', 'HGET', 'HSET', 'ZREMRANGEBYRANK', 'LPUSH', 'RPOP',
  'ZRANGE', 'HDEL', 'PEXPIRE', 'HINCRBY' })
return take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), ARGV[2] == '1',
  function() end, true, KEYS[5])
