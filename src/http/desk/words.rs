//! The desk's words in English and Russian. A person's language is their
//! own setting, else the browser's `Accept-Language`, else English.

use std::collections::BTreeMap;

/// The languages the desk speaks.
pub const LANGUAGES: [&str; 2] = ["en", "ru"];

/// (key, English, Russian)
const WORDS: &[(&str, &str, &str)] = &[
    ("product", "touchpoint", "touchpoint"),
    ("today", "Today", "Сегодня"),
    ("overview", "Overview", "Обзор"),
    ("counted_at", "Counted at", "Подсчитано"),
    (
        "per_week",
        "Messages per week: the last 12 weeks and the next 4",
        "Сообщения по неделям: 12 прошедших и 4 следующих",
    ),
    ("still_due", "still to go", "ещё впереди"),
    ("sent", "sent", "отправлено"),
    ("as_table", "The numbers", "Числа"),
    ("week_of", "Week of", "Неделя с"),
    (
        "not_sent",
        "Why touchpoints did not go out",
        "Почему контакты не состоялись",
    ),
    (
        "twelve_weeks",
        "Recorded in the last 12 weeks.",
        "За последние 12 недель.",
    ),
    (
        "sixteen_weeks",
        "Due in the last 12 weeks and the next 4.",
        "Со сроком в последние 12 недель и следующие 4.",
    ),
    ("none_yet", "Nothing yet.", "Пока ничего."),
    ("total", "Total", "Всего"),
    ("k_opted_out", "opted out", "отписан"),
    (
        "k_no_consent",
        "no marketing consent",
        "нет согласия на рекламу",
    ),
    (
        "k_no_address",
        "no address on file",
        "нет адреса или телефона",
    ),
    ("k_capped", "frequency cap", "лимит частоты"),
    ("k_stale", "too late to send", "слишком поздно"),
    (
        "k_fulfilled_by_visit",
        "fulfilled by a visit",
        "выполнено визитом",
    ),
    ("k_no_visit", "no visit to follow up", "не было визита"),
    (
        "k_displaced",
        "displaced by higher priority",
        "вытеснено более важными",
    ),
    ("k_not_applicable", "does not apply", "не применимо"),
    (
        "k_skipped_by_person",
        "skipped by a person",
        "пропущено сотрудником",
    ),
    (
        "k_not_approved",
        "not approved in time",
        "не одобрено вовремя",
    ),
    ("k_other", "other", "другое"),
    ("opt_out_rate", "Opt-outs", "Отписки"),
    ("opted_out_now", "Opted out now", "Отписаны сейчас"),
    (
        "recent_opt_outs",
        "Opt-outs / sent, 12 weeks",
        "Отписки / отправлено, 12 недель",
    ),
    ("per_thousand", "per 1,000 sent", "на 1000 отправленных"),
    ("call_outcomes", "Call outcomes", "Итоги звонков"),
    ("accuracy", "Prediction accuracy", "Точность прогноза"),
    (
        "accuracy_basis",
        "Visits of the last year that met a planned service reminder, against the day predicted.",
        "Визиты за год, пришедшиеся на запланированное напоминание, против прогноза.",
    ),
    ("visits_scored", "Visits", "Визитов"),
    ("median_error", "Typically off by", "Обычно ошибка"),
    (
        "median_bias",
        "Typically (− early, + late)",
        "Обычно (− раньше, + позже)",
    ),
    ("within_14", "Within 14 days", "В пределах 14 дней"),
    ("within_30", "Within 30 days", "В пределах 30 дней"),
    (
        "early",
        "More than 14 days early",
        "Раньше более чем на 14 дней",
    ),
    (
        "late",
        "More than 14 days late",
        "Позже более чем на 14 дней",
    ),
    ("days_unit", "days", "дн."),
    ("queue", "Queue", "Очередь"),
    ("customers", "Customers", "Клиенты"),
    ("imports", "Imports", "Импорт"),
    ("sign_in", "Sign in", "Войти"),
    ("sign_out", "Sign out", "Выйти"),
    ("email", "Email", "Эл. почта"),
    ("password", "Password", "Пароль"),
    (
        "wrong_password",
        "Wrong email or password.",
        "Неверная почта или пароль.",
    ),
    (
        "locked",
        "Too many failed sign-ins: this account is locked until",
        "Слишком много неудачных попыток: вход заблокирован до",
    ),
    (
        "too_many",
        "Too many sign-ins from this address. Wait a minute and try again.",
        "Слишком много попыток входа с этого адреса. Подождите минуту.",
    ),
    ("calls_due", "Calls due today", "Звонки на сегодня"),
    (
        "no_calls",
        "No calls are due. Nothing to ring today.",
        "Звонков на сегодня нет.",
    ),
    ("phone", "Phone", "Телефон"),
    ("next_calls", "The next calls", "Следующие звонки"),
    (
        "back_to_first",
        "Back to the first calls",
        "К первым звонкам",
    ),
    ("no_phone", "no phone", "нет телефона"),
    ("vehicles", "Vehicles", "Автомобили"),
    ("next_service", "Next service", "Следующее ТО"),
    ("why_now", "Why now", "Почему сейчас"),
    ("script", "Script", "Сценарий"),
    ("history", "Contact history", "История контактов"),
    ("last_outcome", "Last outcome", "Последний итог"),
    ("claim", "I'm calling", "Я звоню"),
    ("unclaim", "Give back", "Вернуть"),
    ("claimed_by", "Being called by", "Звонит"),
    ("note", "Note (optional)", "Заметка (необязательно)"),
    ("booked", "Booked", "Записан"),
    ("declined", "Declined", "Отказ"),
    ("no_answer", "No answer", "Не ответил"),
    ("wrong_number", "Wrong number", "Неверный номер"),
    ("left_message", "Left a message", "Оставил сообщение"),
    ("busy", "Busy", "Занято"),
    ("call_back", "Call back", "Перезвонить"),
    ("call_back_on", "Call back on", "Перезвонить"),
    ("call_back_at", "at", "в"),
    ("do_not_call", "Do not call", "Не звонить"),
    ("days", "Days ahead", "Дней вперёд"),
    ("channel", "Channel", "Канал"),
    ("category", "Category", "Категория"),
    ("state", "State", "Состояние"),
    ("any", "any", "все"),
    ("filter", "Show", "Показать"),
    ("due", "Due", "Срок"),
    ("customer", "Customer", "Клиент"),
    ("touchpoint", "Touchpoint", "Контакт"),
    ("reason", "Reason", "Причина"),
    ("hold", "Hold", "Задержать"),
    ("release", "Release", "Отпустить"),
    ("skip", "Skip", "Пропустить"),
    ("send_now", "Send now", "Отправить сейчас"),
    ("preview", "Preview", "Текст сообщения"),
    ("sms_segments", "SMS segments", "сегм. SMS"),
    (
        "cannot_render",
        "This message cannot be rendered and will fail when due",
        "Это сообщение не собирается и не уйдёт в срок",
    ),
    (
        "nothing_queued",
        "Nothing goes out in these days.",
        "В эти дни ничего не отправляется.",
    ),
    ("held_messages", "Held for review", "Ждут проверки"),
    ("approve", "Approve", "Одобрить"),
    ("awaiting_approval", "awaiting approval", "ждёт одобрения"),
    ("until", "until", "до"),
    ("discard", "Discard", "Отклонить"),
    (
        "no_held",
        "No message waits for review.",
        "Нет сообщений на проверке.",
    ),
    ("search", "Search", "Найти"),
    (
        "search_hint",
        "Name, VIN, phone, email or customer number",
        "Имя, VIN, телефон, почта или номер клиента",
    ),
    ("no_match", "Nobody matches.", "Никого не найдено."),
    ("more", "More", "Ещё"),
    ("timeline", "Timeline", "История"),
    ("upcoming", "Coming up", "Впереди"),
    ("past", "What happened", "Что было"),
    ("actions", "What people did", "Действия сотрудников"),
    (
        "record_visit",
        "Record a visit or reading",
        "Записать визит или пробег",
    ),
    ("date", "Date", "Дата"),
    ("odometer", "Odometer", "Пробег"),
    ("kind", "Kind", "Вид"),
    ("save", "Save", "Сохранить"),
    ("opt_out", "Opt out", "Отписать"),
    ("opt_in", "Opt back in", "Подписать снова"),
    ("opted_out", "opted out", "отписан"),
    ("contact", "Contact", "Связь"),
    ("upload", "Upload and import", "Загрузить и импортировать"),
    ("file", "File", "Файл"),
    ("dry_run", "Check only, change nothing", "Только проверить"),
    ("import_history", "Import history", "История импорта"),
    (
        "problems",
        "Problems: nothing was imported",
        "Ошибки: ничего не импортировано",
    ),
    (
        "download_errors",
        "Download the errors as CSV",
        "Скачать ошибки (CSV)",
    ),
    ("imported", "Imported", "Импортировано"),
    ("show_problems", "The problems", "Ошибки"),
    ("rows", "rows", "строк"),
    ("new", "new", "новых"),
    ("updated", "updated", "изменено"),
    ("unchanged", "unchanged", "без изменений"),
    ("when", "When", "Когда"),
    ("who", "Who", "Кто"),
    ("what", "What", "Что"),
    ("language", "Language", "Язык"),
    ("decided_by", "decided by", "по"),
    ("km_per_month", "km/month", "км/мес"),
    ("rate_from", "rate from", "темп по"),
    (
        "forbidden",
        "Your role does not allow this.",
        "Ваша роль этого не позволяет.",
    ),
    ("not_found", "Not found.", "Не найдено."),
    ("error", "Something went wrong", "Что-то пошло не так"),
    ("back", "Back", "Назад"),
    ("signed_in_as", "Signed in as", "Вы вошли как"),
    ("users", "Users", "Пользователи"),
    ("role", "Role", "Роль"),
    ("since", "Since", "С"),
    ("remove", "Remove", "Удалить"),
    ("locked_now", "locked", "заблокирован"),
    ("add_user", "Add a user", "Добавить пользователя"),
    ("user_added", "Added", "Добавлен"),
    (
        "generated_password",
        "Their password, shown this once — hand it over in person:",
        "Пароль показан один раз — передайте его лично:",
    ),
    (
        "leave_empty_to_generate",
        "empty: one is generated",
        "пусто: будет создан",
    ),
    ("account", "My account", "Моя учётная запись"),
    ("change_password", "Change my password", "Сменить пароль"),
    ("current_password", "Current password", "Текущий пароль"),
    (
        "new_password",
        "New password (10 characters or more)",
        "Новый пароль (не менее 10 символов)",
    ),
    (
        "new_password_again",
        "New password again",
        "Новый пароль ещё раз",
    ),
    (
        "other_sessions_end",
        "Your other signed-in browsers are signed out.",
        "Другие ваши сеансы будут завершены.",
    ),
    ("password_changed", "Password changed.", "Пароль изменён."),
    ("done", "Done.", "Готово."),
];

/// The words of `lang` by key (English for an unknown language).
pub fn words(lang: &str) -> BTreeMap<&'static str, &'static str> {
    let ru = lang == "ru";
    WORDS
        .iter()
        .map(|(k, en, r)| (*k, if ru { *r } else { *en }))
        .collect()
}

/// The language for a person: their setting, else the first of
/// `Accept-Language` the desk speaks, else English.
pub fn choose(setting: Option<&str>, accept_language: Option<&str>) -> &'static str {
    if let Some(s) = setting
        && let Some(l) = LANGUAGES.iter().find(|l| **l == s)
    {
        return l;
    }
    let mut offered: Vec<(f32, usize, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut bits = part.trim().split(';');
            let tag = bits.next()?.trim();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, i, tag))
        })
        .collect();
    offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, tag) in offered {
        let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
        if let Some(l) = LANGUAGES.iter().find(|l| **l == primary) {
            return l;
        }
    }
    "en"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_then_the_browser_then_english() {
        assert_eq!(choose(Some("ru"), Some("en-US")), "ru");
        assert_eq!(choose(None, Some("de-DE,ru;q=0.8,en;q=0.5")), "ru");
        assert_eq!(choose(None, Some("en;q=0.3, ru-RU;q=0.9")), "ru");
        assert_eq!(choose(None, Some("fr")), "en");
        assert_eq!(choose(Some("xx"), None), "en");
    }

    #[test]
    fn every_word_is_in_both_languages() {
        for (key, en, ru) in WORDS {
            assert!(!en.is_empty() && !ru.is_empty(), "{key}");
        }
        assert_eq!(words("ru").len(), WORDS.len(), "keys are unique");
    }
}
