--[[
  The history: what a structure's scripts did, counted per minute of the
  server's clock over the last 24 hours (aiopyrq._history reads it). The hash
  NAME-history is a ring of 1440 slots, one per minute of the day:

    field minute % 1440 -> "minute added delivered acked failed recovered dead waiting"

  minute is the unix minute the counts are of, waiting the items waiting as
  the last script of that minute saw them. The first write of a minute
  overwrites its slot, whatever older minute the slot held: the hash never
  holds more than 1440 fields, and a slot is read back only for the minute it
  names. That first write also sets the key to expire 25 h later, so that the
  history of a structure left idle goes once it is a day old.

  A script opens its slot with history_read before its first write (a key of
  the wrong type fails it there) and writes it with history_write after its
  other writes: one HGET, then one HSET (and a PEXPIRE once a minute), for a
  call of any number of items. Once per call: lua/wrap/once.lua makes a call
  sent again return its first reply without running again.
]]
--- @include "includes/now"

local HISTORY_SLOTS = 1440
local HISTORY_TTL_MS = 25 * 3600 * 1000
-- The place of each count in a slot's value, after the minute.
local HISTORY_EVENTS = { added = 2, delivered = 3, acked = 4, failed = 5, recovered = 6, dead = 7 }

-- The slot of the unix minute `minute` and its counts so far (a read: call it before
-- the script's first write).
local function history_at(history, minute)
  local slot = minute % HISTORY_SLOTS
  local kept = rcall('HGET', history, slot)
  local counts = {}
  if kept then
    for number in string.gmatch(kept, '%S+') do
      counts[#counts + 1] = tonumber(number)
    end
  end
  local fresh = counts[1] ~= minute
  if fresh then
    counts = { minute, 0, 0, 0, 0, 0, 0, 0 }
  end
  return { key = history, slot = slot, counts = counts, fresh = fresh }
end

-- The slot of this minute, by the server's clock (a read: before the first write).
local function history_read(history)
  return history_at(history, math.floor(now_seconds() / 60))
end

-- Adds counts ({ added = n, ... }) to the slot read by history_read, with the items
-- waiting now; writes nothing if every count is 0.
local function history_write(opened, changes, waiting)
  local counts, changed = opened.counts, false
  for event, count in pairs(changes) do
    if count ~= 0 then
      local at = HISTORY_EVENTS[event]
      counts[at] = counts[at] + count
      changed = true
    end
  end
  if not changed then
    return
  end
  counts[8] = waiting
  rcall('HSET', opened.key, opened.slot, table.concat(counts, ' '))
  if opened.fresh then
    rcall('PEXPIRE', opened.key, HISTORY_TTL_MS)
  end
end
