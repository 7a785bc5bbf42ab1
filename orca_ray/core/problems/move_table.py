"""The follow-up moves as data: each adds one reasoning step to a problem (a tax after the total, a share among
friends, a second purchase, a unit conversion). `moves.apply_move` carries them out.

A move names an operation on the target's value, how its number k is picked, the new target's phrase, the moves
allowed after it, and wordings: the sentence it adds, the new question and the solution line ({calc} there is the
calculation, e.g. '12 x 1.08 = 12.96'). Placeholders: {Owner}/{his}/{Other} (people), {phrase}/{Phrase}, {unit},
{to_unit}, {k}, {k1} (k - 1), {thing}, {job}, {gets}, {activity}, and the target's own words (e.g. {made}).

    >>> sorted(MOVES["tax"].then)
    ['repeat_cost', 'split_cost']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    body: str  # the sentence added before the question ('' for none)
    ask: str  # the new question
    line: str  # the new solution line, with {calc}
    who: bool | None = None  # True: only when the target has an owner; False: only when it has none


W = Wording


@dataclass(frozen=True)
class Move:
    op: str  # mul, div, add, sub, up (x (100+k)%), down (x (100-k)%), of (k x a share), pct_of (k x v/100), convert
    pick: str  # how to choose k (see moves._candidates)
    phrase: str  # the new target's phrase
    then: tuple[str, ...] | None = None  # the moves allowed after it (None: the same as before)
    kind: str | None = None  # the new target's kind (None: unchanged)
    unit: str | None = None  # the new unit (None: unchanged)
    owner: str = "same"  # same, other (a new person) or none
    k_kind: str = "count"  # how k is written: count or money
    words: tuple[tuple[str, str], ...] = ()  # words later moves need, e.g. ('when', 'in {k} years')
    wordings: tuple[Wording, ...] = ()


# Moves that read naturally after common kinds of targets.
MONEY_COST = ("tax", "discount", "split_cost", "repeat_cost")  # money someone pays
MONEY_HELD = ("spend", "earn_more", "split_money")  # money someone has
COUNT_HELD = ("give", "more", "share", "times", "bag")  # things someone has
COUNT_MADE = ("repeat_made", "pack", "sell")  # things made, no owner
COUNT_PLAIN = ("add_more", "split_groups")  # things somewhere, no owner
TIME_SPENT = ("convert", "repeat_time", "extra_time")
AGE = ("future_age", "older", "parent")
TEMP = ("warm", "cool")
DISTANCE = ("convert", "repeat_trip", "extra_distance")

# fmt: off
MOVES: dict[str, Move] = {
    # ---- money someone pays
    "tax": Move("up", "tax", "{phrase} with the tax", then=("split_cost", "repeat_cost"), wordings=(
        W("There is also a {k}% sales tax on {phrase}.",
          "How much is {phrase} with the tax, in dollars?", "With the tax, {phrase} is {calc} dollars."),
    )),
    "discount": Move("down", "off", "{phrase} after the discount", then=("tax", "split_cost", "repeat_cost"), wordings=(
        W("{Owner} has a coupon for {k}% off {phrase}.",
          "How much does {Owner} pay with the coupon?", "With the coupon, {Owner} pays {calc} dollars.", who=True),
        W("A {k}% discount is taken off {phrase}.",
          "What is {phrase} after the discount, in dollars?",
          "After the discount, {phrase} is {calc} dollars.", who=False),
    )),
    "split_cost": Move("div", "people", "each person's share",
         then=("repeat_share", "extra_fee"), owner="none", wordings=(
        W("{Owner} and {k1} {friends} split {phrase} equally.",
          "How much does each of them pay?", "Each of them pays {calc} dollars.", who=True),
        W("{Phrase} is split equally among {k} people.",
          "How much does each person pay?", "Each person pays {calc} dollars.", who=False),
    )),
    "repeat_share": Move("mul", "weeks", "what each person pays over the {k} weeks", then=("extra_fee",), wordings=(
        W("They share a bill like this every week for {k} weeks.",
          "How much does each person pay over the {k} weeks?", "Over {k} weeks, each person pays {calc} dollars."),
    )),
    "extra_fee": Move("add", "small_money", "what each person pays in all",
         then=("repeat_share",), k_kind="money", wordings=(
        W("Each person also pays a {k} tip.",
          "How much does each person pay in all?", "Each person pays {calc} dollars in all."),
    )),
    "repeat_cost": Move("mul", "weeks", "the total for the {k} weeks", then=("discount", "split_cost"), wordings=(
        W("{Owner} spends the same amount every week for {k} weeks.",
          "How much does {Owner} spend over the {k} weeks?",
          "Over {k} weeks, {Owner} spends {calc} dollars.", who=True),
        W("The same amount is paid every week for {k} weeks.",
          "How much is paid over the {k} weeks, in dollars?",
          "Over {k} weeks, the payments come to {calc} dollars.", who=False),
    )),
    # ---- money someone has
    "spend": Move("sub", "less_money", "the money {Owner} has left", then=MONEY_HELD, k_kind="money", wordings=(
        W("{Owner} then spends {k} on {thing}.",
          "How much money does {Owner} have left?", "{Owner} has {calc} dollars left.", who=True),
    )),
    "earn_more": Move("add", "more_money", "the money {Owner} has now", then=MONEY_HELD, k_kind="money", wordings=(
        W("{Owner} then earns {k} more {job}.",
          "How much money does {Owner} have now?", "{Owner} now has {calc} dollars.", who=True),
    )),
    "split_money": Move("div", "people", "the money {Owner} gets", then=MONEY_HELD, owner="other", wordings=(
        W("{Owner} shares {phrase} equally among {k} friends, one of them {Other}.",
          "How much money does {Other} get?", "{Other} gets {calc} dollars.", who=True),
    )),
    # ---- things someone has
    "give": Move("sub", "less_count", "the {unit} {Owner} has now", then=COUNT_HELD, wordings=(
        W("{Owner} then gives {k} {unit} to {Other}.",
          "How many {unit} does {Owner} have now?", "{Owner} has {calc} {unit} now.", who=True),
    )),
    "more": Move("add", "more_count", "the {unit} {Owner} has now", then=COUNT_HELD, wordings=(
        W("{Owner} then {gets} {k} more {unit}.",
          "How many {unit} does {Owner} have now?", "{Owner} has {calc} {unit} now.", who=True),
    )),
    "share": Move("div", "divisor", "the {unit} {Owner} gets", then=COUNT_HELD, owner="other", wordings=(
        W("{Owner} shares {his} {unit} equally among {k} friends, one of them {Other}.",
          "How many {unit} does {Other} get?", "{Other} gets {calc} {unit}.", who=True),
    )),
    "times": Move("mul", "few", "the {unit} {Owner} has", then=COUNT_HELD, owner="other", wordings=(
        W("{Other} has {k} times as many {unit} as {Owner} has now.",
          "How many {unit} does {Other} have?", "{Other} has {calc} {unit}.", who=True),
    )),
    "bag": Move("div", "divisor", "the bags", then=("sell_bags",), unit="bags", wordings=(
        W("{Owner} puts {his} {unit} into bags of {k}.",
          "How many bags does {Owner} fill?", "{Owner} fills {calc} bags.", who=True),
    )),
    "sell_bags": Move("mul", "price", "the money {Owner} makes",
         then=MONEY_HELD, kind="money", unit="dollars", k_kind="money", wordings=(
        W("{Owner} sells each bag for {k}.",
          "How much money does {Owner} make?", "{Owner} makes {calc} dollars.", who=True),
    )),
    # ---- things made (no owner)
    "repeat_made": Move("mul", "days", "the {unit} {made} in the {k} days", then=("pack", "sell"), wordings=(
        W("The same number of {unit} is {made} every day for {k} days.",
          "How many {unit} are {made} in the {k} days?", "In {k} days, {calc} {unit} are {made}."),
    )),
    "pack": Move("div", "divisor", "the boxes", then=("sell_boxes",), unit="boxes", owner="none", wordings=(
        W("The {unit} are packed in boxes of {k}.", "How many boxes are filled?", "That fills {calc} boxes."),
    )),
    "sell_boxes": Move("mul", "price", "the money from the boxes",
         then=("split_earnings",), kind="money", unit="dollars", k_kind="money", wordings=(
        W("Each box sells for {k}.", "How much money do the boxes bring in?", "The boxes bring in {calc} dollars."),
    )),
    "sell": Move("mul", "price", "the money from the {unit}",
         then=("split_earnings",), kind="money", unit="dollars", owner="none", k_kind="money", wordings=(
        W("Each of the {unit} sells for {k}.",
          "How much money do the {unit} bring in?", "The {unit} bring in {calc} dollars."),
    )),
    "split_earnings": Move("div", "people", "each person's share", then=("each_more",), owner="none", wordings=(
        W("The money is shared equally among {k} people.",
          "How much does each person get?", "Each person gets {calc} dollars."),
    )),
    "each_more": Move("add", "small_money", "what each person has", then=("each_more",), k_kind="money", wordings=(
        W("Each person then gets {k} more.",
          "How much does each person have now?", "Each person has {calc} dollars now."),
    )),
    "diff_grow": Move("add", "more_count", "the difference", then=("diff_grow",), wordings=(
        W("Then {k} more {unit} are added.",
          "How many more {unit} than {other_noun} are there now?",
          "Now there are {calc} more {unit} than {other_noun}."),
    )),
    "join_sum": Move("add", "years", "the sum of the ages", then=("join_sum",), wordings=(
        W("{Other} is {k} years old.",
          "What is the sum of all the ages, including {Other}?", "Including {Other}, the sum is {calc} years."),
    )),
    # ---- things that sit somewhere (no owner)
    "add_more": Move("add", "more_count", "the {unit} there now", then=COUNT_PLAIN, wordings=(
        W("Then {k} more {unit} {arrive}.", "How many {unit} are there now?", "Now there are {calc} {unit}."),
    )),
    "split_groups": Move("div", "divisor", "the {unit} in one group", then=("add_to_group",), wordings=(
        W("The {unit} are put into {k} equal groups.",
          "How many {unit} are in each group?", "Each group has {calc} {unit}."),
    )),
    "add_to_group": Move("add", "more_count", "the {unit} in that group", then=("add_to_group",), wordings=(
        W("Then {k} more {unit} join one of the groups.",
          "How many {unit} are in that group now?", "That group now has {calc} {unit}."),
    )),
    # ---- time and distance
    "convert": Move("convert", "convert", "{phrase}", wordings=(
        W("", "What is {phrase}, in {to_unit}?", "{Phrase} is {calc} {to_unit}."),
    )),
    "repeat_time": Move("mul", "days", "the time over the {k} days", then=("convert", "extra_time"), wordings=(
        W("{Owner} does this every day for {k} days.",
          "How many {unit} does {Owner} spend over the {k} days?",
          "Over {k} days, {Owner} spends {calc} {unit}.", who=True),
        W("This happens every day for {k} days.",
          "How many {unit} is that over the {k} days?", "Over {k} days, that is {calc} {unit}.", who=False),
    )),
    "extra_time": Move("add", "more_time", "the time in all", then=("convert", "repeat_time"), wordings=(
        W("After that, {Owner} spends {k} more {unit} {activity}.",
          "How many {unit} does {Owner} spend in all?", "In all, {Owner} spends {calc} {unit}.", who=True),
        W("After that, {k} more {unit} are added to the schedule.",
          "How many {unit} is that in all?", "In all, that is {calc} {unit}.", who=False),
    )),
    "repeat_trip": Move("mul", "days", "the distance over the {k} days", then=("convert", "extra_distance"), wordings=(
        W("{Owner} makes the same trip on {k} days.",
          "How far does {Owner} travel over the {k} days, in {unit}?",
          "Over {k} days, {Owner} travels {calc} {unit}.", who=True),
    )),
    "extra_distance": Move("add", "more_count", "the distance in all", then=("convert", "repeat_trip"), wordings=(
        W("{Owner} then {goes} {k} more {unit}.",
          "How far does {Owner} travel in all, in {unit}?", "In all, {Owner} travels {calc} {unit}.", who=True),
    )),
    "order_grows": Move("add", "more_count", "the {unit} still to be {made}", then=("order_grows",), wordings=(
        W("Then the order grows by {k} {unit}.",
          "How many {unit} are still to be {made} now?", "Now {calc} {unit} are still to be {made}."),
    )),
    "free_week": Move("mul", "days", "the free time over the {k} days", then=("convert", "extra_free"), wordings=(
        W("{Owner} has the same free time every day for {k} days.",
          "How many {unit} of free time does {Owner} have over the {k} days?",
          "Over {k} days, {Owner} has {calc} {unit} of free time.", who=True),
    )),
    "extra_free": Move("add", "more_count", "the free time in all", then=("convert", "extra_free"), wordings=(
        W("On Sunday, {Owner} gets {k} more {unit} of free time.",
          "How many {unit} of free time does {Owner} have in all?",
          "In all, {Owner} has {calc} {unit} of free time.", who=True),
    )),
    "use_part": Move("sub", "part_of", "what is left of {phrase}", then=("convert", "use_part"), wordings=(
        W("{Owner} uses {k} {unit} of it.", "How many {unit} of it are left?", "{calc} {unit} are left.", who=True),
    )),
    "speed_far": Move("mul", "few", "the distance", then=DISTANCE, unit="{dist_unit}", wordings=(
        W("Suppose {Owner} keeps up {phrase} for {k} hours.",
          "How far would {Owner} travel, in {dist_unit}?",
          "In {k} hours, {Owner} would travel {calc} {dist_unit}.", who=True),
    )),
    "spread_more": Move("add", "degrees", "the difference", then=("spread_more",), wordings=(
        W("The next night is {k} degrees colder than the lowest temperature so far.",
          "How many degrees apart are the highest temperature and the next night's?", "They are {calc} degrees apart."),
    )),
    # ---- ages
    "future_age": Move("add", "years", "{Owner}'s age in {k} years",
         then=("then_older",), words=(("when", "in {k} years"),), wordings=(
        W("", "How old will {Owner} be in {k} years?", "In {k} years, {Owner} will be {calc} years old.", who=True),
    )),
    "then_older": Move("add", "years", "{Owner}'s age {when}", then=("then_older",), owner="other", wordings=(
        W("{When}, {Other} will be {k} years older than {Owner}.",
          "How old will {Other} be {when}?", "{Other} will be {calc} years old {when}."),
    )),
    "older": Move("add", "years", "{Owner}'s age", then=AGE, owner="other", wordings=(
        W("{Other} is {k} years older than {Owner}.", "How old is {Other}?", "{Other} is {calc} years old.", who=True),
    )),
    "parent": Move("mul", "few", "{Owner}'s age", then=AGE, owner="other", wordings=(
        W("{Other} is {k} times as old as {Owner}.", "How old is {Other}?", "{Other} is {calc} years old.", who=True),
    )),
    # ---- temperatures (may go below zero)
    "warm": Move("add", "degrees", "the temperature", then=TEMP, wordings=(
        W("Later the temperature rises by {k} degrees.",
          "What is the temperature then?", "The temperature is then {calc} degrees."),
    )),
    "cool": Move("sub", "degrees", "the temperature", then=TEMP, wordings=(
        W("After that it falls by {k} degrees.",
          "What is the temperature now?", "The temperature is now {calc} degrees."),
    )),
    # ---- shares of a whole
    "of_whole": Move("of", "whole", "the {pieces} {state}",
         then=("pieces_more",), kind="count", unit="{pieces}", owner="none", wordings=(
        W("The {whole} was cut into {k} equal {pieces}.",
          "How many {pieces} are {state}?", "That is {calc} {pieces} {state}."),
    )),
    "pieces_more": Move("add", "more_count", "the {unit} there now", then=("pieces_more",), wordings=(
        W("{Other} brings {k} more {unit}.", "How many {unit} are there now?", "Now there are {calc} {unit}."),
    )),
    "pct_apply": Move("pct_of", "pct_base", "the {group} there that {desc}",
         then=COUNT_PLAIN, kind="count", unit="{group}", owner="none", wordings=(
        W("Another {place} has {k} {group}, and the same percent of them {desc}.",
          "How many {group} there {desc}?", "There, {calc} {group} {desc}."),
    )),
    "pct_invest": Move("pct_of", "pct_money", "the profit next month",
         then=MONEY_HELD, kind="money", unit="dollars", k_kind="money", wordings=(
        W("Next month {Owner} spends {k} and makes the same percent profit.",
          "How much profit does {Owner} make next month?", "The profit is {calc} dollars.", who=True),
    )),
    "project": Move("mul", "days", "the total over {k} {items}", then=("project_more",), wordings=(
        W("Suppose each of {k} {items} had exactly {phrase}.",
          "What would the total be for the {k} {items}?", "The total would be {calc} {unit}."),
    )),
    "project_more": Move("add", "more_count", "the total", then=("project_more",), wordings=(
        W("Then {k} more {unit} are added to that total.", "What is the total now?", "The total is now {calc} {unit}."),
    )),
    "cost_per": Move("mul", "price", "the cost of the {material}",
         then=MONEY_COST, kind="money", unit="dollars", k_kind="money", wordings=(
        W("{Material} costs {k} per {unit_one}.",
          "How much does the {material} cost?", "The {material} costs {calc} dollars."),
    )),}
# fmt: on
