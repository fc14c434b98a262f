--[[
  Removes items handed out and not yet acknowledged from a Pool. Items not in
  flight stay (delete_items removes any item).

  Input:
    KEYS[1] pool sorted set
    KEYS[2] history hash (includes/history): the items removed are done with
            for good, and count as acked
    ARGV[1] the items, packed: a msgpack array of strings

  Output:
    how many items were removed
]]
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/in_flight"
--- @include "includes/history"

ready({ 'TIME', 'HLEN', 'ZSCORE', 'ZREM', 'HSET', 'PEXPIRE', 'HINCRBY' })
local history = history_read(KEYS[2])
local removed = in_flight(KEYS[1], cmsgpack.unpack(ARGV[1]))
for i = 1, #removed, 1000 do
  rcall('ZREM', KEYS[1], unpack(removed, i, math.min(i + 999, #removed)))
end
history_write(history, { acked = #removed })
return #removed
