# ruff: noqa: RUF001 - Russian tickets are Cyrillic on purpose
"""A synthetic ticket storm, seeded: many players reporting one outage, among ordinary tickets.

The storm is one problem ("can't log in after the update: error 503 / endless loading"),
about 70% in English and 30% in Russian, told in varied words: synonyms, typos, devices,
player ids, emotions, from three words to a paragraph. The other tickets are ordinary
support requests about many different things (payments, lost items, bans, recovery, bugs,
questions); some use the storm's words ("login", "update", "loading", "error") in another
sense, so a detector that groups by a keyword fails on them.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

STORM_QUEUE = "mobile"
RUSSIAN_SHARE = 0.3


@dataclass(frozen=True)
class CorpusTicket:
    text: str
    queue: str | None
    is_storm: bool
    language: str  # "en" or "ru"


def storm_corpus(n_storm: int = 500, n_other: int = 100, seed: int = 1) -> list[CorpusTicket]:
    """`n_storm` storm and `n_other` other tickets, shuffled together; the same for a seed."""
    rng = random.Random(seed)
    tickets = [storm_ticket(rng) for _ in range(n_storm)]
    tickets += [other_ticket(rng) for _ in range(n_other)]
    rng.shuffle(tickets)
    return tickets


def storm_ticket(rng: random.Random) -> CorpusTicket:
    language = "ru" if rng.random() < RUSSIAN_SHARE else "en"
    parts = _STORM[language]
    length = rng.random()
    if length < 0.25:
        text = rng.choice(parts["short"])
    else:
        # The login failure, when it began, and one or both of its faces.
        faces = rng.sample([parts["error"], parts["loading"]], 2 if length > 0.6 else 1)
        sentences = [f"{rng.choice(parts['login'])} {rng.choice(parts['when'])}"]
        sentences += [rng.choice(face) for face in faces]
        if length > 0.75:
            sentences.append(rng.choice(parts["tried"]))
        text = _dress(rng, language, sentences, chatty=length > 0.5)
    return CorpusTicket(_typos(rng, text), STORM_QUEUE, True, language)


def other_ticket(rng: random.Random) -> CorpusTicket:
    language = "ru" if rng.random() < RUSSIAN_SHARE else "en"
    topic = rng.choice(_OTHER)
    told = rng.sample(topic[language], 2 if rng.random() < 0.3 else 1)
    sentences = [_fill(rng, sentence) for sentence in told]
    text = _dress(rng, language, sentences, chatty=rng.random() < 0.5)
    queue = rng.choices([STORM_QUEUE, "billing", None], weights=[8, 1, 1])[0]
    return CorpusTicket(_typos(rng, text), queue, False, language)


def _dress(rng: random.Random, language: str, sentences: list[str], *, chatty: bool) -> str:
    """Greetings, details and feelings around the sentences that carry the problem."""
    extras = _EXTRAS[language]
    body = list(sentences)
    if chatty:
        details = [_fill(rng, rng.choice(extras[k])) for k in ("device", "player", "emotion")]
        body += [d for d in details if rng.random() < 0.5]
        rng.shuffle(body)
        if rng.random() < 0.3:
            body.append(rng.choice(extras["closing"]))
    if rng.random() < 0.4:
        body.insert(0, rng.choice(extras["greeting"]))
    punctuation = rng.choice([". ", ", ", " ", "! ", "\n"])
    return punctuation.join(s[0].upper() + s[1:] if rng.random() < 0.5 else s for s in body)


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        n=rng.randint(10**5, 10**9),
        small=rng.randint(1, 99),
        price=rng.choice(["4.99", "9.99", "0.99", "19.99", "299", "749"]),
        nick=rng.choice(_NICKS) + str(rng.randint(1, 999)),
        device=rng.choice(_DEVICES),
    )


_KEYBOARD = {
    "a": "sq", "e": "wr", "i": "uo", "o": "ip", "n": "bm", "t": "ry", "s": "ad", "l": "k",
    "а": "вп", "е": "кн", "о": "рл", "и": "мт", "н": "ег", "т": "ьи", "р": "по", "в": "ыа",
}  # fmt: skip


def _typos(rng: random.Random, text: str) -> str:
    """Players type fast on phones: letters dropped, doubled, swapped or hit next door, and
    the odd message in lower case or CAPS."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) < 4 or rng.random() > 0.08:
            continue
        j = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            word = word[:j] + word[j + 1 :]
        elif kind == 1:
            word = word[:j] + word[j] + word[j:]
        elif kind == 2:
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif word[j] in _KEYBOARD:
            word = word[:j] + rng.choice(_KEYBOARD[word[j]]) + word[j + 1 :]
        words[i] = word
    text = " ".join(words)
    case = rng.random()
    if case < 0.3:
        return text.lower()
    if case < 0.35:
        return text.upper()
    if case < 0.5:
        return text.rstrip(string.punctuation)
    return text


_NICKS = ["DarkWolf", "kitty", "ProGamer", "Snayper", "bublik", "Zed", "Ivan", "lulu", "Max"]
_DEVICES = [
    "iPhone 12", "iPhone 14 Pro", "Samsung Galaxy S21", "Xiaomi Redmi Note 11", "Pixel 7",
    "iPad Air", "Huawei P30", "Windows PC", "Steam Deck", "Samsung A52", "Poco X3",
]  # fmt: skip

_STORM: dict[str, dict[str, list[str]]] = {
    "en": {
        "short": [
            "cant login 503", "login error 503", "can't log in", "stuck loading after update",
            "error 503 after update", "endless loading screen", "login not working",
            "cannot log in since update", "503 error on login", "infinite loading again",
            "login broken after patch", "stuck on loading screen", "can't sign in error 503",
        ],
        "login": [
            "can't log in", "cannot login", "can't login", "unable to log in",
            "login fails", "login failed", "login doesn't work", "login is not working",
            "can't sign in", "it won't let me log in", "can't get into my account",
            "can't enter the game", "cannot connect to the server", "log in is broken",
            "it keeps throwing me back to the login screen", "i can not log into the game",
        ],
        "error": [
            "error 503", "error code 503", "503 error", "server error 503",
            "it says error 503 service unavailable", "got error 503", "HTTP error 503",
            "error 503 (service unavailable)", "connection error 503 every time",
            "login error 503", "it shows error 503 and closes",
        ],
        "loading": [
            "stuck on the loading screen", "endless loading", "infinite loading",
            "loading forever", "the loading bar is stuck at 99%", "it's just loading and loading",
            "stuck at loading", "the loading screen never ends", "it hangs on the loading screen",
            "the game freezes on the loading screen", "spinning loading circle forever",
        ],
        "when": [
            "after the update", "after today's update", "since the new patch",
            "since the latest update", "after updating", "after I installed the update",
            "after patch 2.4.1", "since the update this morning", "after the new version",
            "after updating the game", "ever since the update",
        ],
        "tried": [
            "I tried reinstalling, nothing helps",
            "cleared the cache and restarted, still the same",
            "reinstalled twice, no luck", "switched from wifi to mobile data, same thing",
            "my friends have the same problem", "restarted my phone three times",
        ],
    },
    "ru": {
        "short": [
            "не могу зайти", "ошибка 503", "не заходит после обновления",
            "бесконечная загрузка", "не могу войти ошибка 503", "висит на загрузке",
            "вход не работает после обновы", "не пускает в игру 503",
        ],
        "login": [
            "не могу зайти", "не могу зайти в игру", "не получается войти",
            "не могу войти в аккаунт", "не заходит в игру", "вход не работает",
            "не пускает в игру", "не могу залогиниться", "не могу подключиться к серверу",
            "выкидывает на экран входа", "не получается зайти в аккаунт",
        ],
        "error": [
            "ошибка 503", "пишет ошибку 503", "код ошибки 503", "выдает ошибку 503",
            "ошибка сервера 503", "503 ошибка", "вылезает ошибка 503",
        ],
        "loading": [
            "бесконечная загрузка", "висит на загрузке", "зависает на экране загрузки",
            "грузится бесконечно", "загрузка застряла на 99%", "вечная загрузка",
            "висит экран загрузки", "загрузка идет и идет",
        ],
        "when": [
            "после обновления", "после последнего обновления", "после патча",
            "после апдейта", "как обновил игру", "после сегодняшнего обновления",
            "с утра после обновы", "после установки обновления",
        ],
        "tried": [
            "переустанавливал, ничего не помогает", "чистил кэш и перезагружал телефон",
            "пробовал через вайфай и мобильный интернет, то же самое",
            "у друзей то же самое", "переустановил два раза, не помогло",
        ],
    },
}  # fmt: skip

_EXTRAS: dict[str, dict[str, list[str]]] = {
    "en": {
        "greeting": ["Hi", "Hello", "Hey guys", "Help!", "URGENT", "Dear support", "hi team"],
        "device": ["on my {device}", "playing on {device}", "device: {device}", "({device})"],
        "player": ["my id is {n}", "player ID: {n}", "ID {n}", "nickname {nick}", "I'm {nick}"],
        "emotion": [
            "this is ridiculous", "fix it asap!!!", "so annoying", "what is going on??",
            ":(", "please fix", "I paid for the battle pass", "worst day ever",
            "come on guys", "I have been playing for 3 years", "seriously?",
        ],
        "closing": ["thanks", "thank you in advance", "waiting for an answer", "regards"],
    },
    "ru": {
        "greeting": ["Здравствуйте", "Привет", "Добрый день", "Ребята", "Помогите", "Алло"],
        "device": ["на {device}", "телефон {device}", "играю с {device}", "устройство {device}"],
        "player": ["мой id {n}", "ид игрока {n}", "ник {nick}", "мой ник {nick}"],
        "emotion": [
            "сколько можно!!!", "что за ерунда", "исправьте срочно", "очень бесит",
            "я донатил вообще-то", "уже час жду", "ну блин", ":(", "когда починят?",
        ],
        "closing": ["спасибо", "жду ответа", "заранее спасибо", "с уважением"],
    },
}  # fmt: skip

# Ordinary requests, one topic each; several borrow the storm's words in another sense.
_OTHER: list[dict[str, list[str]]] = [
    {
        "en": ["I paid {price} for gems but never received them",
               "bought the starter pack, money was taken but no gems",
               "payment went through twice for one purchase"],
        "ru": ["оплатил {price}, а кристаллы не пришли", "списали деньги дважды за одну покупку"],
    },
    {
        "en": ["I want a refund for the battle pass", "please refund my accidental purchase",
               "how do I get my money back for the skin"],
        "ru": ["хочу вернуть деньги за боевой пропуск", "верните деньги, купил случайно"],
    },
    {
        "en": ["my legendary sword disappeared from the inventory",
               "items vanished after a trade with another player",
               "lost all my items from the chest"],
        "ru": ["пропал легендарный меч из инвентаря", "исчезли предметы после обмена"],
    },
    {
        "en": ["why was my account banned? I did nothing wrong",
               "I got banned for cheating but I never cheated",
               "please lift my ban, it's a mistake"],
        "ru": ["за что меня забанили? я ничего не нарушал", "разбаньте аккаунт, это ошибка"],
    },
    {
        "en": ["I forgot my password and the reset email never arrives",
               "forgot my login password, how do I reset it",
               "lost access to the email linked to my account"],
        "ru": ["забыл пароль, письмо для сброса не приходит", "нет доступа к почте от аккаунта"],
    },
    {
        "en": ["how do I update my email address", "I want to change the email on my account",
               "how can I update my phone number in the profile"],
        "ru": ["как поменять почту в аккаунте", "хочу изменить привязанный номер телефона"],
    },
    {
        "en": ["the quest 'Lost Temple' does not complete", "quest objective is not counted",
               "stuck on the main quest, the boss does not spawn"],
        "ru": ["не засчитывается квест Затерянный храм", "босс в квесте не появляется"],
    },
    {
        "en": ["I didn't get my daily login reward today",
               "daily login bonus for day {small} is missing",
               "the 7-day login calendar reset for no reason"],
        "ru": ["не пришла ежедневная награда за вход", "сбросился календарь наград за вход"],
    },
    {
        "en": ["there is no sound in the game", "music plays but no sound effects",
               "voice chat audio is crackling"],
        "ru": ["пропал звук в игре", "нет звуковых эффектов, только музыка"],
    },
    {
        "en": ["clan chat is not showing new messages", "can't send messages in clan chat",
               "clan chat is empty since yesterday"],
        "ru": ["не работает чат клана", "не отправляются сообщения в клановый чат"],
    },
    {
        "en": ["when does the next event start?", "is there a halloween event this year?",
               "how long will the summer event last"],
        "ru": ["когда начнется следующий ивент?", "будет ли ивент на хэллоуин?"],
    },
    {
        "en": ["how do I change my nickname", "can I rename my character",
               "my nickname has a typo, can you fix it"],
        "ru": ["как сменить ник", "можно ли переименовать персонажа"],
    },
    {
        "en": ["player {nick} is using an aimbot", "reporting a cheater in ranked: {nick}",
               "someone is speed hacking in arena, nickname {nick}"],
        "ru": ["игрок {nick} использует читы", "жалоба на читера {nick} в рейтинговом бою"],
    },
    {
        "en": ["a player keeps insulting me in chat",
               "someone sends me threats in private messages",
               "{nick} is harassing our clan"],
        "ru": ["игрок оскорбляет меня в чате", "мне угрожают в личных сообщениях"],
    },
    {
        "en": ["the game crashes every time I enter the arena",
               "crash to desktop in the middle of a raid",
               "the app crashes when I open the shop"],
        "ru": ["игра вылетает при входе на арену", "вылет посреди рейда",
               "вылетает при открытии магазина"],
    },
    {
        "en": ["huge lag in matches, ping is 300", "the game is laggy in team fights",
               "ping spikes every few minutes"],
        "ru": ["лагает в боях, пинг 300", "скачет пинг каждые несколько минут"],
    },
    {
        "en": ["promo code SUMMER24 does not work", "the code from the stream says invalid",
               "where do I enter a promo code"],
        "ru": ["промокод SUMMER24 не работает", "куда вводить промокод"],
    },
    {
        "en": ["how do I cancel my VIP subscription",
               "I was charged for the subscription after cancelling",
               "please stop the monthly subscription"],
        "ru": ["как отменить подписку VIP", "списали за подписку после отмены"],
    },
    {
        "en": ["how do I move my progress to a new phone",
               "I got a new phone, how to transfer my account",
               "switching from android to iphone, will I keep my progress?"],
        "ru": ["как перенести прогресс на новый телефон",
               "перехожу с андроида на айфон, сохранится ли прогресс"],
    },
    {
        "en": ["textures are black on the map", "graphics glitch: characters are invisible",
               "the water looks pink after changing settings"],
        "ru": ["черные текстуры на карте", "персонажи невидимые, глюк графики"],
    },
    {
        "en": ["how do I switch the game language to English",
               "the language resets to German every time",
               "some texts are not translated"],
        "ru": ["как поменять язык игры на русский", "часть текста не переведена"],
    },
    {
        "en": ["my friend invite link does not work",
               "can't add friends, the request never arrives",
               "friends list is empty"],
        "ru": ["не работает ссылка приглашения друга", "не приходят заявки в друзья"],
    },
    {
        "en": ["the leaderboard shows wrong scores", "my rank dropped for no reason",
               "season ranking did not count my last wins"],
        "ru": ["в таблице лидеров неправильные очки", "упал ранг без причины"],
    },
    {
        "en": ["I won the tournament but got no prize", "tournament rewards were not sent",
               "top {small} in the cup and no reward"],
        "ru": ["выиграл турнир, но приз не пришел", "не начислили награды за турнир"],
    },
    {
        "en": ["suggestion: add a dark mode", "please add more hero slots",
               "idea: let us trade duplicates"],
        "ru": ["предложение: добавьте темную тему", "добавьте больше слотов для героев"],
    },
    {
        "en": ["my son made purchases without my permission", "my kid spent {price} on gems",
               "unauthorised purchases by my child, please help"],
        "ru": ["ребенок без спроса накупил в игре на {price}", "сын потратил деньги с моей карты"],
    },
    {
        "en": ["please delete my account and all my data", "how do I delete my account permanently",
               "GDPR request: erase my personal data"],
        "ru": ["удалите мой аккаунт и все данные", "как навсегда удалить аккаунт"],
    },
    {
        "en": ["the achievement 'Collector' does not unlock",
               "achievements are not syncing with Steam",
               "I finished the collection but no achievement"],
        "ru": ["не открывается достижение Коллекционер", "ачивки не синхронизируются со Steam"],
    },
    {
        "en": ["my battle pass level went back from {small} to 1", "battle pass progress lost",
               "XP for the battle pass is not counted"],
        "ru": ["сбросился уровень боевого пропуска", "не начисляется опыт боевого пропуска"],
    },
    {
        "en": ["will the next update add new heroes?", "when is the next update coming out?",
               "what's new in the upcoming patch?"],
        "ru": ["что будет в следующем обновлении?", "когда выйдет новое обновление?"],
    },
    {
        "en": ["the update is downloading very slowly, {small} KB/s",
               "update download stuck at {small}%, my internet is fine",
               "the update needs 3 GB, I don't have space"],
        "ru": ["обновление качается очень медленно", "не хватает места для обновления"],
    },
    {
        "en": ["error 1207 when I try to buy gems in the shop",
               "purchase fails with error code 1207", "the store says error 1207, card is fine"],
        "ru": ["ошибка 1207 при покупке кристаллов", "не проходит оплата, код ошибки 1207"],
    },
    {
        "en": ["how do I log out and switch to another account",
               "I want to log in with Google instead of Facebook",
               "how to unlink my facebook login"],
        "ru": ["как выйти из аккаунта и зайти в другой", "как отвязать вход через фейсбук"],
    },
    {
        "en": ["thanks, my previous issue is solved!", "update on ticket: the bug is gone now",
               "just wanted to say thank you for the quick help"],
        "ru": ["спасибо, проблема решилась", "все заработало, спасибо за помощь"],
    },
    {
        "en": ["loading into a match takes a minute, other players wait for me",
               "matchmaking takes forever in ranked", "can't find a match for {small} minutes"],
        "ru": ["долго ищет матч в рейтинге", "поиск игры идет по {small} минут"],
    },
    {
        "en": ["the pet stopped following my character", "my mount disappeared from the stable",
               "pet skill does no damage"],
        "ru": ["питомец перестал ходить за персонажем", "пропал маунт из конюшни"],
    },
]  # fmt: skip
