--[[
  Removes items from a list as LREM does, for a whole batch at once.

  Each entry of `items` removes up to |per| occurrences of its value (`per` as in
  LREM: > 0 from the head, < 0 from the tail, 0 every occurrence); a value listed
  twice removes twice as many. A few distinct values are removed with LREM; more
  are removed in one pass over the list, which is then written back, so the cost
  stays linear in the list and the batch instead of their product.

  Returns the entries of `items` that found an occurrence to remove, in the order
  of `items`, and the number of occurrences removed in all.
]]
--- @include "includes/push"

local function budget_of(items, per)
  local budget, distinct = {}, {}
  for _, item in ipairs(items) do
    if budget[item] == nil then
      budget[item] = 0
      distinct[#distinct + 1] = item
    end
    budget[item] = budget[item] + math.abs(per)
  end
  return budget, distinct
end

local function remove_by_lrem(key, budget, distinct, per)
  local removed = {}
  for _, item in ipairs(distinct) do
    local count = 0
    if per > 0 then count = budget[item] elseif per < 0 then count = -budget[item] end
    removed[item] = rcall('LREM', key, count, item)
  end
  return removed
end

local function remove_by_rewrite(key, budget, per)
  local all = rcall('LRANGE', key, 0, -1)
  local first, last, step, push = 1, #all, 1, 'RPUSH'
  if per < 0 then first, last, step, push = #all, 1, -1, 'LPUSH' end
  local removed, kept = {}, {}
  for i = first, last, step do
    local value = all[i]
    local left = budget[value]
    if left ~= nil and (per == 0 or left > 0) then
      budget[value] = left - 1
      removed[value] = (removed[value] or 0) + 1
    else
      kept[#kept + 1] = value
    end
  end
  if #kept < #all then
    rcall('DEL', key)
    push_all(push, key, kept)
  end
  return removed
end

local function list_remove(key, items, per)
  local budget, distinct = budget_of(items, per)
  local removed
  if #distinct <= 16 then
    removed = remove_by_lrem(key, budget, distinct, per)
  else
    removed = remove_by_rewrite(key, budget, per)
  end
  local taken, total = {}, 0
  for _, count in pairs(removed) do
    total = total + count
  end
  for _, item in ipairs(items) do
    local left = removed[item]
    if left ~= nil and left > 0 then
      removed[item] = left - 1
      taken[#taken + 1] = item
    end
  end
  return taken, total
end
