--[[
  The history: what a structure's scripts did, counted per minute of the
  server's clock over the last 24 hours (aiopyrq._history reads it). The hash
  NAME-history is a ring of 1440 slots, one per minute of the day; slot s
  (minute % 1440) holds the fields

    s:a  -> items added          s:f -> items failed (rejected, lease expired)
    s:d  -> items delivered      s:r -> items recovered (put back)
    s:k  -> items acked          s:x -> items dead-lettered
    s:w  -> items waiting, as the calls that wrote the minute's first counts saw them

  Each value is stamped with the day of the minute it is of: day * 10^10 +
  count, where day = minute // 1440 (unix time // 86400), so that the slot and
  the day name the minute. A field is read back only for the day of the minute
  its slot is asked for: a value left by the same minute of an older day reads
  as none. A field is overwritten in place, day after day: the hash never holds
  more than 1440 * 7 fields.

  A count is added with one HINCRBY, and nothing is read first: the reply tells
  this day's count from an older day's (or from none: stamp 0). Only then, at
  the first write of that count in a minute, one HSET sets the field to this
  day's stamp plus the count, and waiting (when the call knows it) beside it,
  and the key is set to expire 25 h later, so that the history of a structure
  left idle goes once it is a day old. So a call writes one command per count
  that is not 0, whatever its number of items; each write a script makes costs
  Redis more than its reads do, and waiting is one write less on every call but
  the first of each count in a minute.

  The history's writes come after the script's own (their counts are known only
  then), and an HINCRBY on a key of the wrong type fails. So a script opens its
  slot with history_at or history_read before its first write: they read the
  key with HLEN (O(1), any encoding), which fails a key of the wrong type there,
  while nothing is written yet (includes/ready). Once per call:
  lua/wrap/once.lua makes a call sent again return its first reply without
  running again.
]]
--- @include "includes/now"

local HISTORY_SLOTS = 1440
local HISTORY_DAY = 10000000000 -- 10^10: a count below it, the day above (_history.DAY)
local HISTORY_TTL_MS = 25 * 3600 * 1000
local format = string.format
local HISTORY_FIELDS = { added = 'a', delivered = 'd', acked = 'k', failed = 'f', recovered = 'r',
  dead = 'x' }

-- The slot of the unix minute `minute` (a read: call it before the script's first write).
local function history_at(history, minute)
  rcall('HLEN', history)
  local day = math.floor(minute / HISTORY_SLOTS)
  return { key = history, prefix = format('%d:', minute % HISTORY_SLOTS), day = day,
    stamp = day * HISTORY_DAY }
end

-- The slot of this minute by the server's clock (a read: before the first write).
local function history_read(history)
  return history_at(history, math.floor(now_seconds() / 60))
end

-- Adds counts ({ added = n, ... }) to the slot opened; writes nothing if every count is 0.
-- waiting: the items waiting now (nil: not known here), set with a count's first write
-- in the minute. Returns true if a count was the first of its minute. A number given to
-- redis.call is printed with %.17g, slower than %d: the stamped values go as strings.
local function history_write(opened, changes, waiting)
  local key, prefix, stamp, first = opened.key, opened.prefix, opened.stamp, false
  for event, count in pairs(changes) do
    if count ~= 0 then
      local field = prefix .. HISTORY_FIELDS[event]
      local value = rcall('HINCRBY', key, field, count)
      if math.floor(value / HISTORY_DAY) ~= opened.day then -- an older day's, or none
        if waiting ~= nil then
          rcall('HSET', key, field, format('%d', stamp + count), prefix .. 'w',
            format('%d', stamp + waiting))
        else
          rcall('HSET', key, field, format('%d', stamp + count))
        end
        first = true
      end
    end
  end
  if first then
    rcall('PEXPIRE', key, HISTORY_TTL_MS)
  end
  return first
end
