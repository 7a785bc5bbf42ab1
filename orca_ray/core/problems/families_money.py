"""Problem families about money: shopping and change, percentages and discounts, profit and loss, wages."""

from __future__ import annotations

import math
from fractions import Fraction
from random import Random

from orca_ray.core.problems.draft import Draft, NoBuild, Target, check_clean, pick_plan
from orca_ray.core.problems.move_table import COUNT_PLAIN, MONEY_COST, MONEY_HELD
from orca_ray.core.problems.moves import extend
from orca_ray.core.problems.wording import a_an, chance, dollars, is_cents, join_list, money, num, people

# singular, plural, lowest and highest price in quarters of a dollar
SHOP_ITEMS = (
    ("pen", "pens", 4, 12),
    ("notebook", "notebooks", 6, 20),
    ("apple", "apples", 2, 6),
    ("sandwich", "sandwiches", 12, 32),
    ("book", "books", 20, 60),
    ("toy car", "toy cars", 8, 28),
    ("bottle of juice", "bottles of juice", 4, 12),
    ("loaf of bread", "loaves of bread", 8, 20),
    ("T-shirt", "T-shirts", 24, 64),
    ("pair of socks", "pairs of socks", 8, 24),
    ("cupcake", "cupcakes", 4, 14),
    ("ice cream cone", "ice cream cones", 6, 16),
    ("box of crayons", "boxes of crayons", 6, 20),
    ("packet of seeds", "packets of seeds", 3, 10),
    ("comic book", "comic books", 8, 24),
    ("ball", "balls", 8, 32),
    ("bag of chips", "bags of chips", 4, 10),
    ("candle", "candles", 6, 24),
    ("mug", "mugs", 12, 40),
    ("plant pot", "plant pots", 8, 36),
    ("pencil case", "pencil cases", 10, 30),
    ("jar of honey", "jars of honey", 16, 40),
)
SHOPS = (
    "the market",
    "a bookstore",
    "the school fair",
    "a grocery store",
    "the mall",
    "a craft store",
    "a corner shop",
)
BILLS = (5, 10, 20, 50, 100)
SALE_ITEMS = (
    "jacket",
    "bike",
    "lamp",
    "backpack",
    "video game",
    "pair of shoes",
    "tablet",
    "desk chair",
    "watch",
    "tent",
    "guitar",
    "rug",
    "camera",
    "toaster",
)


def _price(rng: Random, low_q: int, high_q: int) -> Fraction:
    """Whole dollars most of the time; otherwise quarters."""
    whole = list(range(-(-low_q // 4), high_q // 4 + 1))
    if whole and chance(rng, 60):
        return Fraction(rng.choice(whole))
    return Fraction(rng.randint(low_q, high_q), 4)


def _pay_with(rng: Random, amount: Fraction) -> tuple[int, str]:
    """(cash handed over, how the sentence says it): a bill when one covers the amount, else round hundreds."""
    above = [b for b in BILLS if b > amount]
    if above:
        bill = rng.choice(above[:2])
        return bill, f"a {dollars(bill)} bill"
    cash = (int(amount) // 100 + rng.randint(1, 2)) * 100
    return cash, f"{cash // 100} $100 bills"


def shopping(rng: Random, steps: int) -> Draft:
    plans = []
    for k in range(5):  # items bought several at a time (one multiplication each)
        for j in range(3):  # items bought one at a time
            if 1 <= k + j <= 4:
                for coupon in (0, 1):
                    for change in (0, 1):
                        plans.append((k + (k + j >= 2) + coupon + change, (k, j, coupon, change)))
    (k, j, coupon, change), extra = pick_plan(rng, steps, plans)
    buyer = people(rng, 1)[0]
    parts, lines, subtotals = [], [], []
    for index, (one, many, low, high) in enumerate(rng.sample(SHOP_ITEMS, k + j)):
        price = _price(rng, low, high)
        if index < k:
            count = rng.randint(2, 8)
            subtotals.append(count * price)
            parts.append(f"{count} {many} {rng.choice(('for', 'at'))} {dollars(price)} each")
            lines.append(f"The {many} cost {count} x {money(price)} = {money(count * price)} dollars.")
        else:
            subtotals.append(price)
            parts.append(f"{a_an(one)} for {dollars(price)}")
    total = sum(subtotals, Fraction(0))
    if len(subtotals) >= 2:
        lines.append(f"Altogether that is {' + '.join(money(s) for s in subtotals)} = {money(total)} dollars.")
    opening = rng.choice(
        (
            f"At {rng.choice(SHOPS)}, {buyer.name} buys",
            f"{buyer.name} goes to {rng.choice(SHOPS)} and buys",
            f"{buyer.name} buys",
        )
    )
    body = [f"{opening} {join_list(parts)}."]
    paid = total
    if coupon:
        if total <= 2:
            raise NoBuild("too small for a coupon")
        off = Fraction(rng.randint(1, min(10, int(total) - 1)))
        paid = total - off
        body.append(f"{buyer.He} has a coupon for {dollars(off)} off the total.")
        lines.append(f"With the coupon, {buyer.name} pays {money(total)} - {money(off)} = {money(paid)} dollars.")
    if change:
        bill, said = _pay_with(rng, paid)
        body.append(f"{buyer.He} pays with {said}.")
        lines.append(f"{buyer.name} gets {bill} - {money(paid)} = {money(bill - paid)} dollars in change.")
        ask = rng.choice((f"How much change does {buyer.name} get?", f"How much money does {buyer.name} get back?"))
        target = Target(bill - paid, "money", "dollars", "the change", buyer, MONEY_HELD)
    else:
        ask = rng.choice(
            (
                f"How much does {buyer.name} spend in all?",
                f"How much money does {buyer.name} pay?",
                f"What is the total that {buyer.name} pays?",
            )
        )
        target = Target(paid, "money", "dollars", "the total cost", buyer, MONEY_COST)
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


def _sale_chain(rng: Random, steps: int) -> Draft:
    """A price, a percent off, then perhaps several of them, a tax and the change."""
    plans = [
        (base + qty + tax + change, (base, qty, tax, change))
        for base in (1, 2)
        for qty in (0, 1)
        for tax in (0, 1, 2)
        for change in (0, 1)
    ]
    (base, qty, tax, change), extra = pick_plan(rng, steps, plans)
    buyer, item = people(rng, 1)[0], rng.choice(SALE_ITEMS)
    off = rng.choice((10, 15, 20, 25, 30, 40, 50))
    price = Fraction(rng.randrange(20, 301, rng.choice((4, 5, 10))))
    sale = price * (100 - off) / 100
    body = [
        rng.choice(
            (
                f"{buyer.name} sees {a_an(item)} that costs {dollars(price)}. It is on sale for {off}% off.",
                f"{buyer.name} wants {a_an(item)} that usually costs {dollars(price)}. This week it is {off}% off.",
            )
        )
    ]
    if base == 1:
        lines = [f"The sale price is {num(price)} x {100 - off}/100 = {money(sale)} dollars."]
    else:
        discount = price * off / 100
        lines = [
            f"The discount is {num(price)} x {off}/100 = {money(discount)} dollars.",
            f"The sale price is {num(price)} - {money(discount)} = {money(sale)} dollars.",
        ]
    cost, phrase = sale, "the sale price"
    if qty:
        count = rng.randint(2, 5)
        cost, phrase = sale * count, "the total cost"
        body.append(f"{buyer.name} buys {count} of them on sale.")
        lines.append(f"{count} of them cost {count} x {money(sale)} = {money(cost)} dollars.")
    if tax:
        rates = [t for t in (5, 6, 8, 10, 12, 15, 20) if is_cents(cost * t / 100)]
        if not rates:
            raise NoBuild("no tax rate gives whole cents")
        rate = rng.choice(rates)
        body.append(f"A sales tax of {rate}% is added at the register.")
        with_tax = cost * (100 + rate) / 100
        if tax == 1:
            lines.append(
                f"With the tax, {buyer.name} pays {money(cost)} x {num((100 + rate) / Fraction(100))} = "
                f"{money(with_tax)} dollars."
            )
        else:
            lines += [
                f"The tax is {money(cost)} x {rate}/100 = {money(cost * rate / 100)} dollars.",
                f"With the tax, {buyer.name} pays {money(cost)} + {money(cost * rate / 100)} = "
                f"{money(with_tax)} dollars.",
            ]
        cost, phrase = with_tax, "the total with tax"
    if change:
        bill, said = _pay_with(rng, cost)
        body.append(f"{buyer.name} pays with {said}.")
        lines.append(f"The change is {bill} - {money(cost)} = {money(bill - cost)} dollars.")
        target = Target(bill - cost, "money", "dollars", "the change", buyer, MONEY_HELD)
        ask = f"How much change does {buyer.name} get?"
    else:
        moves = ("split_cost", "repeat_cost") if tax else MONEY_COST
        target = Target(cost, "money", "dollars", phrase, buyer, moves)
        ask = f"How much does {buyer.name} pay?" if qty or tax else f"What is the sale price of the {item}?"
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


PERCENT_GROUPS = (  # place, group, what some of them do, what the rest do, a noun for each part
    ("school", "students", "walk to school", "do not walk to school", "students who walk", "students who do not walk"),
    ("farm", "animals", "are sheep", "are not sheep", "sheep", "animals that are not sheep"),
    ("library", "books", "are novels", "are not novels", "novels", "books that are not novels"),
    ("orchard", "trees", "are apple trees", "are not apple trees", "apple trees", "trees that are not apple trees"),
    ("concert", "people", "are children", "are adults", "children", "adults"),
    ("parking lot", "cars", "are red", "are not red", "red cars", "cars that are not red"),
    ("garden", "flowers", "are tulips", "are not tulips", "tulips", "flowers that are not tulips"),
    ("club", "members", "play chess", "do not play chess", "chess players", "members who do not play chess"),
)


def _percent_of_group(rng: Random, steps: int) -> Draft:
    place, group, some, rest, some_noun, rest_noun = rng.choice(PERCENT_GROUPS)
    pct = rng.choice((10, 20, 25, 30, 40, 50, 60, 75, 80, 15, 35, 45))
    step = 100 // math.gcd(pct, 100)
    total = step * rng.randint(max(1, 20 // step), max(2, 400 // step))
    part = total * pct // 100
    body = (f"A {place} has {total} {group}, and {pct}% of them {some}.",)
    lines = [f"{total} x {pct}/100 = {part} {group} {some}."]
    value, desc, noun = Fraction(part), some, some_noun
    if steps >= 2 and total - part >= 1:
        lines.append(f"{total} - {part} = {total - part} {group} {rest}.")
        value, desc, noun = Fraction(total - part), rest, rest_noun
    target = Target(value, "count", noun, f"the {noun}", None, COUNT_PLAIN)
    return extend(Draft(body, f"How many {group} {desc}?", tuple(lines), target), steps - len(lines), rng)


def _what_percent(rng: Random, steps: int) -> Draft:
    place, group, some, rest, _, _ = rng.choice(PERCENT_GROUPS)
    total = rng.choice((20, 25, 40, 50, 80, 200, 250, 400, 500, 125, 60, 300))
    pct = Fraction(rng.choice([p for p in range(5, 100, 5) if (total * p) % 100 == 0]))
    part = total * pct / 100
    body = (f"{num(part)} of the {total} {group} at a {place} {some}.",)
    lines = [f"{num(part)} / {total} x 100 = {num(pct)} percent {some}."]
    desc = some
    if steps >= 2:
        lines.append(f"100 - {num(pct)} = {num(100 - pct)} percent {rest}.")
        pct, desc = 100 - pct, rest
    words = (("place", place), ("group", group), ("desc", desc))
    target = Target(pct, "measure", "percent", f"the percent of {group} that {desc}", None, ("pct_apply",), words)
    return extend(Draft(body, f"What percent of the {group} {desc}?", tuple(lines), target), steps - len(lines), rng)


def percentages(rng: Random, steps: int) -> Draft:
    if steps >= 3 or chance(rng, 40):
        return _sale_chain(rng, steps)
    return (_percent_of_group if chance(rng, 50) else _what_percent)(rng, steps)


PRODUCTS = (
    "cups of lemonade",
    "cupcakes",
    "bracelets",
    "potted plants",
    "used books",
    "candles",
    "cookies",
    "birdhouses",
    "scarves",
    "jars of jam",
)


def profit(rng: Random, steps: int) -> Draft:
    plans = []
    for cost_mult in (0, 1):
        for expenses in (0, 1):
            for sell_mult in (0, 1):
                for unsold in (0, sell_mult):
                    for percent in (0, 1):
                        plans.append(
                            (
                                cost_mult + expenses + sell_mult + unsold + 1 + percent,
                                (cost_mult, expenses, sell_mult, unsold, percent),
                            )
                        )
    (cost_mult, expenses, sell_mult, unsold, percent), extra = pick_plan(rng, steps, plans)
    seller, product = people(rng, 1)[0], rng.choice(PRODUCTS)
    for _ in range(100):  # draw until the percent (when asked) is a whole number
        count = rng.randint(10, 60)
        each = Fraction(rng.randint(1, 12), 4)
        cost = count * each
        fee = Fraction(rng.randint(2, 25)) if expenses else Fraction(0)
        left = rng.randint(1, count // 3) if unsold else 0
        sold = count - left
        price = each + Fraction(rng.randint(1, 12), 4)
        if sell_mult:
            revenue = sold * price
        elif percent:  # a whole percent by construction
            revenue = (cost + fee) * (100 + rng.choice((10, 20, 25, 40, 50, 60, 75, 100))) / 100
        else:
            revenue = Fraction(rng.randint(int(cost + fee) + 1, int(2 * (cost + fee)) + 5))
        gain = revenue - cost - fee
        if gain > 0 and is_cents(revenue) and (not percent or (gain * 100 / (cost + fee)).denominator == 1):
            break
    else:
        raise NoBuild("no whole-number profit percent")
    body = [
        f"{seller.name} buys {count} {product} for {dollars(each)} each."
        if cost_mult
        else f"{seller.name} pays {dollars(cost)} for {count} {product}."
    ]
    lines = [f"The {product} cost {count} x {money(each)} = {money(cost)} dollars."] if cost_mult else []
    spent = cost + fee
    if expenses:
        body.append(f"{seller.He} also pays {dollars(fee)} for a stall at the market.")
        lines.append(f"{seller.His} costs are {money(cost)} + {money(fee)} = {money(spent)} dollars.")
    if sell_mult and unsold:
        body.append(f"{seller.He} sells all but {left} of them for {dollars(price)} each.")
        lines.append(f"{seller.He} sells {count} - {left} = {sold} {product}.")
    elif sell_mult:
        body.append(f"{seller.He} sells all of them for {dollars(price)} each.")
    else:
        body.append(f"{seller.He} sells all of them for {dollars(revenue)} in total.")
    if sell_mult:
        lines.append(f"{seller.He} takes in {sold} x {money(price)} = {money(revenue)} dollars.")
    lines.append(f"The profit is {money(revenue)} - {money(spent)} = {money(gain)} dollars.")
    if percent:
        pct = gain * 100 / spent
        lines.append(f"As a percent of the costs, that is {money(gain)} / {money(spent)} x 100 = {num(pct)} percent.")
        ask = f"What is {seller.name}'s profit as a percent of {seller.his} costs?"
        target = Target(pct, "measure", "percent", "the profit percent", seller, ("pct_invest",))
    else:
        ask = rng.choice(
            (
                f"How much profit does {seller.name} make?",
                f"How much money does {seller.name} earn after paying for everything?",
            )
        )
        target = Target(gain, "money", "dollars", "the profit", seller, MONEY_HELD)
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)


WORK_PLACES = (
    "at a cafe",
    "at a bookstore",
    "at the library",
    "as a tutor",
    "at a garden center",
    "at a bakery",
    "as a lifeguard",
    "at a pet shop",
)


def wages(rng: Random, steps: int) -> Draft:
    plans = [
        (1 + days + overtime + bonus + save, (days, overtime, bonus, save))
        for days in (0, 1)
        for overtime in (0, 2, 3)
        for bonus in (0, 1)
        for save in (0, 1)
    ]
    (days, overtime, bonus, save), extra = pick_plan(rng, steps, plans)
    worker = people(rng, 1)[0]
    rate = Fraction(rng.randint(16, 60), 2)  # halves of a dollar keep time-and-a-half in whole cents
    hours = rng.randint(2, 9)
    body = [f"{worker.name} works {rng.choice(WORK_PLACES)} and earns {dollars(rate)} an hour."]
    lines = []
    if days:
        count = rng.randint(2, 6)
        body.append(f"{worker.He} works {hours} hours a day for {count} days.")
        lines.append(f"{worker.He} works {hours} x {count} = {hours * count} hours.")
        hours *= count
    else:
        body.append(f"This week {worker.he} works {hours} hours.")
    pay = rate * hours
    lines.append(f"{worker.He} earns {num(hours)} x {money(rate)} = {money(pay)} dollars.")
    if overtime:
        extra_hours = rng.randint(1, 6)
        fast = rate * Fraction(3, 2)
        if overtime == 3:
            body.append(f"{worker.He} also works {extra_hours} hours of overtime, paid at 1.5 times {worker.his} rate.")
            lines.append(f"The overtime rate is {money(rate)} x 1.5 = {money(fast)} dollars an hour.")
        else:
            body.append(f"{worker.He} also works {extra_hours} hours of overtime at {dollars(fast)} an hour.")
        lines.append(f"The overtime pays {extra_hours} x {money(fast)} = {money(extra_hours * fast)} dollars.")
        lines.append(
            f"In all {worker.he} earns {money(pay)} + {money(extra_hours * fast)} = "
            f"{money(pay + extra_hours * fast)} dollars."
        )
        pay += extra_hours * fast
    if bonus:
        tip = Fraction(rng.randint(2, 30))
        body.append(f"{worker.He} also gets {dollars(tip)} in tips.")
        lines.append(f"With the tips, that is {money(pay)} + {money(tip)} = {money(pay + tip)} dollars.")
        pay += tip
    if save:
        shares = [p for p in (10, 20, 25, 50, 40, 30) if is_cents(pay * p / 100)]
        if not shares:
            raise NoBuild("no savings share in whole cents")
        share = rng.choice(shares)
        body.append(f"{worker.He} saves {share}% of what {worker.he} earns.")
        lines.append(f"{worker.He} saves {money(pay)} x {share}/100 = {money(pay * share / 100)} dollars.")
        target = Target(
            check_clean(pay * share / 100, "money"), "money", "dollars", "the money saved", worker, MONEY_HELD
        )
        ask = f"How much money does {worker.name} save?"
    else:
        target = Target(pay, "money", "dollars", "the earnings", worker, MONEY_HELD)
        ask = rng.choice((f"How much does {worker.name} earn in all?", f"How much money does {worker.name} make?"))
    return extend(Draft(tuple(body), ask, tuple(lines), target), extra, rng)
