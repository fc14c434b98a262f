--[[
  Removes items handed out and not yet acknowledged from a Pool. Items not in
  flight stay (delete_items removes any item).

  Input:
    KEYS[1] pool sorted set
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were removed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/in_flight"

ready({ 'ZSCORE', 'ZREM' })
local removed = in_flight(KEYS[1], cmsgpack.unpack(ARGV[1]))
for i = 1, #removed, 1000 do
  rcall('ZREM', KEYS[1], unpack(removed, i, math.min(i + 999, #removed)))
end
return #removed
