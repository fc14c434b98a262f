--[[
  Moves the delayed items that are due to the end of the queue (or of their
  level), then up to ARGV[1] items, the highest level first, oldest first within one, from the queue into this consumer's processing
  list, and renews the consumer's lease.

  Input:
    KEYS[1] queue list (items pushed on the left, taken from the right)
    KEYS[2] this consumer's processing list
    KEYS[3] timeouts hash (processing list -> unix time of the last get)
    KEYS[4] delayed items (sorted set: prefixed item -> due unix time in ms)
    KEYS[5] prioritised items waiting (sorted set, includes/priority)
    KEYS[6] levels hash (item -> level, includes/priority)
    KEYS[7] history hash (includes/history): the items taken count as delivered
    KEYS[8] rate limit window (includes/limits)
    KEYS[9] in-flight counts (includes/limits)
    KEYS[10] in-flight tokens of freed room (includes/limits)
    ARGV[1] how many items to take, >= 1
    ARGV[2] 1: renew the lease even if the consumer holds nothing (before it
            blocks in BLMOVE, so that whatever BLMOVE moves has a lease);
            0: only if it holds items
    ARGV[3] limits (absent: none; see includes/limits): max_in_flight, 0: none
    ARGV[4] rate limit: items per period, 0: none
    ARGV[5] rate limit: the period in microseconds

  Output:
    { the items taken, oldest first; when none: milliseconds until the next
      delayed item is due, -1 if none is delayed (else 0); with limits: -1, or
      -2 the in-flight cap is reached, or ms until the rate limit lets an item through }
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/take"
--- @include "includes/limits"

ready({ 'TIME', 'LLEN', 'ZRANGEBYSCORE', 'HGET', 'HLEN', 'HSET', 'ZREMRANGEBYRANK', 'LPUSH', 'RPOP',
  'ZRANGE', 'HDEL', 'PEXPIRE', 'HINCRBY' })
local count, limited = limits_before(KEYS[8], KEYS[9], KEYS[10], tonumber(ARGV[1]), ARGV[3],
  ARGV[4], ARGV[5])
return limits_after(take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], count, ARGV[2] == '1',
  function() end, true, KEYS[7], { set = KEYS[5], hash = KEYS[6] }), limited, KEYS[8], KEYS[9],
  KEYS[10], KEYS[2])
