--[[
  The limits of a script's variant without their keys (aiopyrq._scripts.load with keys):
  in place of includes/limits, functions that pass through, so that a structure without
  limits runs none of their code.
]]
local function limits_before(_, _, _, count)
  return count, nil
end

local function limits_after(reply)
  return reply
end

local function held_before()
  return nil
end

local function held_after(_, result)
  return result
end
