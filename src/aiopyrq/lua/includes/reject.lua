--[[
  The reject of Queue and UniqueQueue: the items still held in the processing
  list go back to the front of the queue, in the batch's order (the first is
  taken next); with dead letters on, an item rejected or recovered max times
  goes to the dead-letter list instead.
]]
--- @include "includes/list_remove"
--- @include "includes/release"
--- @include "includes/deliveries"

-- back(items): the items to push back, given the last of the batch first
-- (UniqueQueue: those not waiting already). Returns how many went to the dead letters.
local function reject(queue, processing, timeouts, deliveries, dead, max, items, back)
  local taken = list_remove(processing, items, -1)
  local alive = count_failures(deliveries, dead, taken, max)
  local reversed = {}
  for i = #alive, 1, -1 do
    reversed[#reversed + 1] = alive[i]
  end
  push_all('RPUSH', queue, back(reversed))
  release_if_empty(timeouts, processing)
  return #taken - #alive
end
