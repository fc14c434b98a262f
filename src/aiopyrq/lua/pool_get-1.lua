--[[
  Hands out up to ARGV[1] due items, earliest due first, and marks each in
  flight: due again ARGV[2] seconds from now, with the fraction .1 that tells an
  item in flight.

  Input:
    KEYS[1] pool sorted set
    ARGV[1] how many items, > 0
    ARGV[2] ack_ttl: seconds before an unacknowledged item is due again

  Output:
    the items handed out
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/zadd"

ready({ 'TIME', 'ZRANGEBYSCORE', 'ZADD' })
local now = now_seconds()
local items = rcall('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])
zadd_all(KEYS[1], (now + tonumber(ARGV[2])) .. '.1', items)
return items
