--[[
  Hands out up to ARGV[1] due items, earliest due first, and marks each in
  flight: due again ARGV[2] seconds from now, with the fraction .1 that tells an
  item in flight.

  Input:
    KEYS[1] pool sorted set
    KEYS[2] history hash (includes/history): the items handed out count as
            delivered, and those among them that were in flight (handed out
            before, not acked within ack_ttl) as failed; waiting is the items due
            after it
    ARGV[1] how many items, > 0
    ARGV[2] ack_ttl: seconds before an unacknowledged item is due again

  Output:
    the items handed out
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"
--- @include "includes/zadd"
--- @include "includes/flight"
--- @include "includes/history"

ready({ 'TIME', 'ZRANGEBYSCORE', 'HLEN', 'ZADD', 'ZCOUNT', 'HSET', 'PEXPIRE',
  'HINCRBY' })
local now = now_seconds()
local found = rcall('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[1])
if #found == 0 then
  return {}
end
local history = history_at(KEYS[2], math.floor(now / 60))
local items, expired = {}, 0
for i = 1, #found, 2 do
  items[#items + 1] = found[i]
  if is_in_flight(tonumber(found[i + 1])) then -- its ack_ttl ran out
    expired = expired + 1
  end
end
zadd_all(KEYS[1], (now + tonumber(ARGV[2])) .. '.1', items)
-- Fewer than asked: no item is due any more.
local waiting = #items < tonumber(ARGV[1]) and 0 or rcall('ZCOUNT', KEYS[1], '-inf', now)
history_write(history, { delivered = #items, failed = expired }, waiting)
return items
