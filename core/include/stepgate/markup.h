// Escaping text for HTML pages (the approvals inbox, `stepgate report --format html`).
#pragma once

#include <string>
#include <string_view>

namespace stepgate {

/// `text` with & < > " ' replaced by entities: safe in element content and in quoted attributes.
std::string html_escape(std::string_view text);

}  // namespace stepgate
