--[[
  Moves dead letters back to the end of the queue, as if added anew, with
  their delivery counts forgotten.

  Input:
    KEYS[1] queue list
    KEYS[2] dead-letter list
    KEYS[3] deliveries hash
    ARGV[1] the dead items to move, each once, packed: a msgpack array of
            strings; an empty array: every dead item

  Output:
    how many items were moved
]]
local rcall = redis.call
--- @include "includes/list_remove"
--- @include "includes/deliveries"

local items = cmsgpack.unpack(ARGV[1])
if #items == 0 then
  items = rcall('LRANGE', KEYS[2], 0, -1)
  rcall('DEL', KEYS[2])
else
  items = list_remove(KEYS[2], items, 1)
end
forget_deliveries(KEYS[3], items)
push_all('LPUSH', KEYS[1], items)
return #items
