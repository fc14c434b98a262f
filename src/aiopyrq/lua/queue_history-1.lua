--[[
  Reads the history of a structure (includes/history), Queue, UniqueQueue or
  Pool alike: the slots of the last ARGV[1] minutes, this one the last.

  Input:
    KEYS[1] history hash
    ARGV[1] how many minutes, 1 to 1440

  Output:
    { the server's unix time in seconds, the value of each slot, the oldest
      minute's first (false where the slot is empty) }
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

ready({ 'TIME', 'HMGET' })
local now = now_seconds()
local minute = math.floor(now / 60)
local slots = {}
for past = tonumber(ARGV[1]) - 1, 0, -1 do
  slots[#slots + 1] = (minute - past) % 1440
end
return { now, rcall('HMGET', KEYS[1], unpack(slots)) }
