--[[
  The reject of Queue and UniqueQueue: the items still held in the processing
  list go back to the front of the queue, in the batch's order (the first is
  taken next), or, with a delay, to the delayed items, due together; with dead
  letters on, an item rejected or recovered max times goes to the dead-letter
  list instead.
]]
--- @include "includes/list_remove"
--- @include "includes/release"
--- @include "includes/deliveries"
--- @include "includes/now"
--- @include "includes/delayed"
--- @include "includes/put_front"

-- back(items): the items to put back (UniqueQueue: those not waiting already).
-- later: nil to put them back now; else { delayed = key, due = unix ms, call = the
-- call's key (Queue: the members' prefix) or nil (UniqueQueue), counted = count the
-- failure without max too }. why: see includes/deliveries. levels: { set, found (the
-- items' levels, levels_of), call (Queue: the members' prefix) }: an item that has a
-- level goes back to the front of it. Returns how many went to the dead letters, and
-- how many of the items the processing list held (rejected).
local function reject(queue, processing, timeouts, deliveries, dead, max, items, back, later, why,
                      levels)
  local taken = list_remove(processing, items, -1)
  local alive = count_failures(deliveries, dead, taken, max, later ~= nil and later.counted, why)
  if later ~= nil and later.due ~= nil then
    delay_all(later.delayed, later.due, delayed_members(back(alive), later.call))
  else
    put_front(queue, levels, back(alive))
  end
  release_if_empty(timeouts, processing)
  return #taken - #alive, #taken
end

-- The `later` of a reject script's arguments: delay in ms (0: none), counted ('1').
local function reject_later(delayed, delay, counted, call)
  local later = { delayed = delayed, call = call, counted = counted == '1' }
  if tonumber(delay) > 0 then
    later.due = now_ms() + tonumber(delay)
  end
  return later
end
