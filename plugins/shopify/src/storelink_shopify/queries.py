"""The GraphQL documents the plugin sends, one named operation each.

Every document is a named ``query`` (or, for order creation, ``mutation``); the
simulator dispatches on that name (:data:`OPERATIONS`). Page sizes are chosen so that each query's requested cost (the
worst case Shopify charges before running it: a connection costs about ``first`` times
its node, nested connections multiply) stays well below the smallest bucket (1,000
points): Shopify refuses a query whose requested cost exceeds the bucket outright.
Field names follow the GraphQL Admin API reference (see ``docs/shopify.md`` for which
shapes are verified and which are inferred).
"""

from __future__ import annotations

__all__ = [
    "ACCESS_SCOPES",
    "DELIVERY_PROFILES",
    "IMAGES_PER_PRODUCT",
    "INVENTORY_PAGE",
    "LEVELS_PER_VARIANT",
    "LINE_ITEMS_PER_ORDER",
    "LOCATION_GROUP_ZONES",
    "METHODS_PER_ZONE",
    "OPERATIONS",
    "ORDER",
    "ORDERS",
    "ORDERS_PAGE",
    "ORDER_CREATE",
    "PRODUCTS",
    "PRODUCTS_PAGE",
    "PROFILES_PAGE",
    "SHIPPING_METHOD",
    "SHOP",
    "VARIANTS_PER_PRODUCT",
    "VARIANT_INVENTORY",
    "VARIANT_INVENTORY_BY_ID",
]

PRODUCTS_PAGE = 15
VARIANTS_PER_PRODUCT = 20
IMAGES_PER_PRODUCT = 5
INVENTORY_PAGE = 25
LEVELS_PER_VARIANT = 10
ORDERS_PAGE = 10
LINE_ITEMS_PER_ORDER = 30
PROFILES_PAGE = 3
LOCATION_GROUP_ZONES = 5
METHODS_PER_ZONE = 10

#: Validates the token and reads the shop's currency (prices are in it).
SHOP = """
query Shop {
  shop { name currencyCode }
}
"""

#: The scopes the merchant granted to the app (``check_access``).
ACCESS_SCOPES = """
query AccessScopes {
  currentAppInstallation { accessScopes { handle } }
}
"""

_MONEY_SET = "shopMoney { amount currencyCode }"

PRODUCTS = f"""
query Products($first: Int!, $after: String) {{
  shop {{ currencyCode }}
  products(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id
      title
      handle
      description
      status
      vendor
      productType
      tags
      createdAt
      onlineStoreUrl
      images(first: {IMAGES_PER_PRODUCT}) {{ nodes {{ url altText }} }}
      variants(first: {VARIANTS_PER_PRODUCT}) {{
        pageInfo {{ hasNextPage }}
        nodes {{
          id
          title
          sku
          barcode
          price
          compareAtPrice
          selectedOptions {{ name value }}
          image {{ url altText }}
        }}
      }}
    }}
  }}
}}
"""

_LEVELS = f"""
  inventoryItem {{
    id
    tracked
    inventoryLevels(first: {LEVELS_PER_VARIANT}) {{
      pageInfo {{ hasNextPage }}
      nodes {{
        location {{ id name }}
        quantities(names: ["available"]) {{ name quantity }}
      }}
    }}
  }}
"""

VARIANT_INVENTORY = f"""
query VariantInventory($first: Int!, $after: String) {{
  productVariants(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id
      sku
{_LEVELS}
    }}
  }}
}}
"""

VARIANT_INVENTORY_BY_ID = f"""
query VariantInventoryById($ids: [ID!]!) {{
  nodes(ids: $ids) {{
    ... on ProductVariant {{
      id
      sku
{_LEVELS}
    }}
  }}
}}
"""

DELIVERY_PROFILES = f"""
query DeliveryProfiles($first: Int!, $after: String) {{
  deliveryProfiles(first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id
      name
      default
      profileLocationGroups {{
        locationGroupZones(first: {LOCATION_GROUP_ZONES}) {{
          pageInfo {{ hasNextPage }}
          nodes {{
            zone {{ id name }}
            methodDefinitions(first: {METHODS_PER_ZONE}) {{
              pageInfo {{ hasNextPage }}
              nodes {{
                id
                name
                active
                description
                rateProvider {{
                  ... on DeliveryRateDefinition {{ id price {{ amount currencyCode }} }}
                  ... on DeliveryParticipant {{ id }}
                }}
              }}
            }}
          }}
        }}
      }}
    }}
  }}
}}
"""

_ORDER_FIELDS = f"""
      id
      name
      email
      createdAt
      updatedAt
      cancelledAt
      closed
      displayFinancialStatus
      displayFulfillmentStatus
      tags
      customAttributes {{ key value }}
      subtotalPriceSet {{ {_MONEY_SET} }}
      totalShippingPriceSet {{ {_MONEY_SET} }}
      totalTaxSet {{ {_MONEY_SET} }}
      totalPriceSet {{ {_MONEY_SET} }}
      shippingAddress {{ name address1 address2 city provinceCode zip countryCodeV2 phone }}
      lineItems(first: {LINE_ITEMS_PER_ORDER}) {{
        pageInfo {{ hasNextPage }}
        nodes {{
          id
          sku
          quantity
          product {{ id }}
          variant {{ id }}
          originalUnitPriceSet {{ {_MONEY_SET} }}
        }}
      }}
"""

ORDERS = f"""
query Orders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
{_ORDER_FIELDS}
    }}
  }}
}}
"""

ORDER = f"""
query Order($id: ID!) {{
  order(id: $id) {{
{_ORDER_FIELDS}
  }}
}}
"""

#: One delivery method definition by id: the title and rate of an order's shipping line.
SHIPPING_METHOD = """
query ShippingMethod($id: ID!) {
  node(id: $id) {
    ... on DeliveryMethodDefinition {
      id
      name
      active
      rateProvider {
        ... on DeliveryRateDefinition { id price { amount currencyCode } }
        ... on DeliveryParticipant { id }
      }
    }
  }
}
"""

#: Creates an order; the answer selects the same fields as a read.
ORDER_CREATE = f"""
mutation OrderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {{
  orderCreate(order: $order, options: $options) {{
    userErrors {{ field message code }}
    order {{
{_ORDER_FIELDS}
    }}
  }}
}}
"""

#: Every operation the plugin sends, by its name (what the simulator dispatches on).
OPERATIONS = {
    "Shop": SHOP,
    "AccessScopes": ACCESS_SCOPES,
    "Products": PRODUCTS,
    "VariantInventory": VARIANT_INVENTORY,
    "VariantInventoryById": VARIANT_INVENTORY_BY_ID,
    "DeliveryProfiles": DELIVERY_PROFILES,
    "Orders": ORDERS,
    "Order": ORDER,
    "ShippingMethod": SHIPPING_METHOD,
    "OrderCreate": ORDER_CREATE,
}
