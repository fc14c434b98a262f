--[[
  The history: what a structure's scripts did, counted per minute of the
  server's clock over the last 24 hours (aiopyrq._history reads it). The hash
  NAME-history is a ring of 1440 slots, one per minute of the day; slot s
  (minute % 1440) holds the fields

    s:a  -> items added          s:f -> items failed (rejected, lease expired)
    s:d  -> items delivered      s:r -> items recovered (put back)
    s:k  -> items acked          s:x -> items dead-lettered
    s:w  -> items waiting, as the last script of that minute that knew it saw them

  Each value is stamped with the day of the minute it counts: day * 10^10 +
  count, where day = minute // 1440 (unix time // 86400), so that the slot and
  the day name the minute. A field is read back only for the day of the minute
  its slot is asked for: a count left by the same minute of an older day reads
  as none. A field is there once a count of some day was not 0.

  A write is one HINCRBY per count that is not 0, and no read: its reply tells
  this day's count from an older day's (or from none: stamp 0), and only then,
  at the first write of that count in a minute, the field is set to this day's
  stamp plus the count (HSET), and the key to expire 25 h later, so that the
  history of a structure left idle goes once it is a day old. A field is
  overwritten in place: the hash never holds more than 1440 * 7 fields. Waiting
  is set (HSET) with each write that knows it.

  The history's writes come after a script's own (their counts are known only
  then), and an HINCRBY on a key of the wrong type fails. So a script opens its
  slot with history_at or history_read before its first write: an HLEN of the
  key, O(1), fails it there while nothing is written yet (includes/ready). Then
  history_write adds its counts after its other writes. Once per call:
  lua/wrap/once.lua makes a call sent again return its first reply without
  running again.
]]
--- @include "includes/now"

local HISTORY_SLOTS = 1440
local HISTORY_DAY = 10000000000 -- 10^10: a count below it, the day above (_history.DAY)
local HISTORY_TTL_MS = 25 * 3600 * 1000
local HISTORY_FIELDS = { added = ':a', delivered = ':d', acked = ':k', failed = ':f',
  recovered = ':r', dead = ':x' }

-- The slot of the unix minute `minute` (a read: call it before the script's first write).
local function history_at(history, minute)
  rcall('HLEN', history)
  local day = math.floor(minute / HISTORY_SLOTS)
  return { key = history, slot = minute % HISTORY_SLOTS, day = day, stamp = day * HISTORY_DAY }
end

-- The slot of this minute by the server's clock (a read: before the first write).
local function history_read(history)
  return history_at(history, math.floor(now_seconds() / 60))
end

-- Adds counts ({ added = n, ... }) to the slot opened, and sets the items waiting now
-- (nil: not known here); writes nothing if every count is 0. Returns true if a count
-- was the first of its minute.
local function history_write(opened, changes, waiting)
  local key, slot, stamp = opened.key, opened.slot, opened.stamp
  local changed, first = false, false
  for event, count in pairs(changes) do
    if count ~= 0 then
      changed = true
      local field = slot .. HISTORY_FIELDS[event]
      local value = rcall('HINCRBY', key, field, count)
      if math.floor(value / HISTORY_DAY) ~= opened.day then -- an older day's, or none
        rcall('HSET', key, field, stamp + count)
        first = true
      end
    end
  end
  if first then
    rcall('PEXPIRE', key, HISTORY_TTL_MS)
  end
  if changed and waiting ~= nil then
    rcall('HSET', key, slot .. ':w', stamp + waiting)
  end
  return first
end
