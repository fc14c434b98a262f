--[[
  Delayed items wait in a sorted set, each scored by the unix time in
  milliseconds, by the server's clock, at which it is due. A Queue's member is
  the item after a prefix of its own (includes/member), so that the same item
  delayed twice waits twice; a UniqueQueue's member is the item itself (it
  waits at most once, and its set of waiting items holds it meanwhile).

  This is the one place that moves due items into the queue: the scripts that
  take items call move_due first, so that nothing else (no process, no polling)
  is needed for a due item to become available. With nothing delayed, it costs
  one ZRANGEBYSCORE on a key that does not exist.
]]
--- @include "includes/push"
--- @include "includes/member"
--- @include "includes/next_due"

-- The due members, up to limit, the earliest first (a read: call it before any write).
local function due_members(delayed, now, limit)
  return rcall('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
end

-- Moves the due members read by due_members to the end of the queue, in their order.
local function move_due(delayed, queue, due, prefixed)
  if #due == 0 then
    return
  end
  rcall('ZREMRANGEBYRANK', delayed, 0, #due - 1)
  if prefixed then
    for i = 1, #due do
      due[i] = string.sub(due[i], DELAYED_PREFIX + 1)
    end
  end
  push_all('LPUSH', queue, due)
end
