--[[
  The history: what a structure's scripts did, counted per minute of the
  server's clock over the last 24 hours (aiopyrq._history reads it). The hash
  NAME-history is a ring of 1440 slots, one per minute of the day; slot s
  (minute % 1440) holds the fields

    s    -> the unix minute the slot's counts are of (unix time // 60)
    s:a  -> items added          s:f -> items failed (rejected, lease expired)
    s:d  -> items delivered      s:r -> items recovered (put back)
    s:k  -> items acked          s:x -> items dead-lettered
    s:w  -> items waiting, as the last script of that minute that knew it saw them

  a count field exists once its count is not 0. The first write of a minute
  deletes what its slot held of an older minute, so the hash never holds more
  than 1440 slots, and a slot is read back only for the minute it names; that
  first write also sets the key to expire 25 h later, so that the history of a
  structure left idle goes once it is a day old.

  A script opens its slot with history_at or history_read before its first
  write (a key of the wrong type fails it there), and adds its counts with
  history_write after its other writes: one HGET, then one HINCRBY per count
  that is not 0 (and an HSET of waiting), for a call of any number of items.
  Once per call: lua/wrap/once.lua makes a call sent again return its first
  reply without running again.
]]
--- @include "includes/now"

local HISTORY_SLOTS = 1440
local HISTORY_TTL_MS = 25 * 3600 * 1000
local HISTORY_FIELDS = { added = 'a', delivered = 'd', acked = 'k', failed = 'f', recovered = 'r',
  dead = 'x' }

-- The slot of the unix minute `minute` (a read: call it before the script's first write).
local function history_at(history, minute)
  local slot = minute % HISTORY_SLOTS
  local stamp = rcall('HGET', history, slot)
  return { key = history, slot = slot, minute = minute, fresh = tonumber(stamp) ~= minute }
end

-- The slot of this minute by the server's clock (a read: before the first write).
local function history_read(history)
  return history_at(history, math.floor(now_seconds() / 60))
end

-- Adds counts ({ added = n, ... }) to the slot opened, and sets the items waiting now
-- (nil: not known here); writes nothing if every count is 0.
local function history_write(opened, changes, waiting)
  local key, prefix, changed = opened.key, opened.slot .. ':', false
  for event, count in pairs(changes) do
    if count ~= 0 then
      if not changed and opened.fresh then
        rcall('HDEL', key, prefix .. 'a', prefix .. 'd', prefix .. 'k', prefix .. 'f',
          prefix .. 'r', prefix .. 'x', prefix .. 'w')
        rcall('HSET', key, opened.slot, opened.minute)
        rcall('PEXPIRE', key, HISTORY_TTL_MS)
      end
      changed = true
      rcall('HINCRBY', key, prefix .. HISTORY_FIELDS[event], count)
    end
  end
  if changed and waiting ~= nil then
    rcall('HSET', key, prefix .. 'w', waiting)
  end
end
