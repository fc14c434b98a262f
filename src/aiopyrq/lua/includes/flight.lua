--[[
  A Pool item handed out and not yet acknowledged has a score with a fraction
  (.1): the time it comes back if nobody acknowledges it. This is the one place
  that decides an item in flight (aiopyrq._snapshot.in_flight restates it for the
  read model; tests/integration/test_rules.py holds the two together).
]]

-- Does a score (a number) mark an item in flight?
local function is_in_flight(score)
  return score - math.floor(score) > 0.01
end
