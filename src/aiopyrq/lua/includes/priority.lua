--[[
  Priorities. An item added with a priority (a level from -9 to 9; 0, the
  default, is the queue list) waits in the sorted set NAME-priority, scored
  -level * LEVEL_SPAN + its place in its level: the levels above the default
  have negative scores, those below positive ones, and within a level the lower
  score is taken first. A new item goes to the back of its level (the highest
  score of the level, plus one), an item put back (reject, recovery) to the
  front (the lowest, minus one): no counter is kept. A get takes the negative
  scores first, then the list, then the positive scores.

  The hash NAME-priorities keeps item -> level while the item is in the queue
  (waiting, delayed or held), so that a reject, a recovery or a delayed item
  that is due goes back to its level; an ack, a drop or a death forgets it. A
  Queue keeps one level per item value: equal items share it.

  A Queue's member is the item after a prefix of DELAYED_PREFIX characters (see
  includes/member), as its delayed members are; a UniqueQueue's is the item.
  With no prioritised item, a get costs one ZRANGE of a key that does not exist.
]]
--- @include "includes/ready"
--- @include "includes/member"

-- The commands of the levels beyond a get's own, checked (includes/ready) only by a get
-- that finds prioritised items or levels: a get without them pays for no check.
local function priority_ready()
  ready({ 'EXISTS', 'HMGET', 'ZADD', 'ZCARD', 'ZREVRANGEBYSCORE' })
end

local LEVEL_SPAN = 1099511627776 -- 2^40: places per level
local LEVEL_HALF = 549755813888 -- 2^39: a level's places either side of its base

-- The levels of items (a read): item -> level for those that have one; nil when
-- the hash does not exist.
local function levels_of(levels, items)
  if #items == 0 then
    return nil
  end
  priority_ready()
  if rcall('EXISTS', levels) == 0 then
    return nil
  end
  local found = {}
  for i = 1, #items, 1000 do
    local chunk = { unpack(items, i, math.min(i + 999, #items)) }
    local got = rcall('HMGET', levels, unpack(chunk))
    for j, item in ipairs(chunk) do
      if got[j] then
        found[item] = tonumber(got[j])
      end
    end
  end
  return found
end

-- Adds members at one level: at its back in their order, or (front) at its front,
-- the first of them taken first. Reads the level's end, then writes.
local function place(set, level, members, front)
  local base = -level * LEVEL_SPAN
  local first
  if front then
    local head = rcall('ZRANGEBYSCORE', set, base - LEVEL_HALF, base + LEVEL_HALF, 'WITHSCORES',
      'LIMIT', 0, 1)[2]
    first = (head and tonumber(head) or base) - #members
  else
    local tail = rcall('ZREVRANGEBYSCORE', set, base + LEVEL_HALF, base - LEVEL_HALF,
      'WITHSCORES', 'LIMIT', 0, 1)[2]
    first = (tail and tonumber(tail) or base) + 1
  end
  for i = 1, #members, 500 do
    local args = {}
    for j = i, math.min(i + 499, #members) do
      args[#args + 1] = string.format('%.0f', first + j - 1)
      args[#args + 1] = members[j]
    end
    rcall('ZADD', set, unpack(args))
  end
end

-- Puts items that have a level (found: see levels_of) at their level, the members
-- being members[i] of items[i]; returns the others, in their order, for the list.
local function place_levels(set, items, members, found, front)
  if found == nil then
    return items
  end
  local rest, groups, order = {}, {}, {}
  for i, item in ipairs(items) do
    local level = found[item]
    if level then
      if groups[level] == nil then
        groups[level] = {}
        order[#order + 1] = level
      end
      table.insert(groups[level], members[i])
    else
      rest[#rest + 1] = item
    end
  end
  for _, level in ipairs(order) do
    place(set, level, groups[level], front)
  end
  return rest
end

-- Up to count waiting prioritised members, the first taken first (a read): those
-- above the default level, those below it, and how many wait in all.
local function levels_head(set, count)
  if count <= 0 then -- a get the limits leave no room: nothing to read
    return {}, {}, 0
  end
  local got = rcall('ZRANGE', set, 0, count - 1, 'WITHSCORES')
  if #got == 0 then
    return got, got, 0
  end
  priority_ready()
  local above, below = {}, {}
  for i = 1, #got, 2 do
    if tonumber(got[i + 1]) < 0 then
      above[#above + 1] = got[i]
    else
      below[#below + 1] = got[i]
    end
  end
  return above, below, rcall('ZCARD', set)
end

-- The items of members (Queue, prefixed: without their prefix).
local function items_of(members, prefixed)
  if not prefixed then
    return members
  end
  local items = {}
  for i, member in ipairs(members) do
    items[i] = string.sub(member, DELAYED_PREFIX + 1)
  end
  return items
end
