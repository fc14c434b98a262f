--[[
  Reads the history of a structure (includes/history), Queue, UniqueQueue or
  Pool alike: the fields of the slots of the last ARGV[1] minutes, this one the
  last.

  Input:
    KEYS[1] history hash
    ARGV[1] how many minutes, 1 to 1440

  Output:
    { the server's unix time in seconds, then for each minute, the oldest first,
      its slot's fields s:a, s:d, s:k, s:f, s:r, s:x, s:w (false where absent) }
]]
--- @no-writes
local rcall = redis.call
--- @include "includes/ready"
--- @include "includes/now"

local SLOTS = 1440 -- HISTORY_SLOTS of includes/history
local PER_CALL = 500 -- slots per HMGET: 7 fields each, below Lua's limit on arguments

ready({ 'TIME', 'HMGET' })
local now = now_seconds()
local minute = math.floor(now / 60)
local reply = { now }
for first = tonumber(ARGV[1]) - 1, 0, -PER_CALL do
  local fields = {}
  for past = first, math.max(first - PER_CALL + 1, 0), -1 do
    local slot = (minute - past) % SLOTS
    for _, field in ipairs({ slot .. ':a', slot .. ':d', slot .. ':k', slot .. ':f', slot .. ':r',
        slot .. ':x', slot .. ':w' }) do
      fields[#fields + 1] = field
    end
  end
  for _, value in ipairs(rcall('HMGET', KEYS[1], unpack(fields))) do
    reply[#reply + 1] = value
  end
end
return reply
