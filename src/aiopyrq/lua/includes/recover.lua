--[[
  The recovery of Queue and UniqueQueue: puts the items of one consumer's
  processing list back at the front of the queue (its oldest item is taken next)
  and drops its lease, if the lease is older than max_age seconds (< 0: any).
  With dead letters on, an item recovered or rejected max times goes to the
  dead-letter list instead.
]]
--- @include "includes/now"
--- @include "includes/lease"
--- @include "includes/deliveries"

-- held(items): the items that go back (UniqueQueue: each once);
-- put_back(items): pushes them at the front of the queue. why: see includes/deliveries.
-- Returns how many items the list held and how many of them went back (not dead);
-- 0, 0 if the lease is not stale.
local function recover(processing, timeouts, deliveries, dead, max_age, max, held, put_back, why)
  if not lease_expired(timeouts, processing, max_age, now_seconds()) then
    return 0, 0
  end
  local items = held(rcall('LRANGE', processing, 0, -1))
  local back = count_failures(deliveries, dead, items, max, false, why)
  put_back(back)
  rcall('DEL', processing)
  rcall('HDEL', timeouts, processing)
  return #items, #back
end
